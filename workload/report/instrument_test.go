package report

import (
	"strings"
	"testing"

	"github.com/dstload/dstload/workload/record"
	"github.com/dstload/dstload/workload/scenario"
)

// latencies returns n update latencies of v seconds.
func latencies(n int, v float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func TestInstrument(t *testing.T) {
	canary := func(p99, mx float64) []record.ProcessStat {
		return []record.ProcessStat{{Process: "observer", CPUSeconds: 1, WatchDelays: 100, WatchDelayP99: p99, WatchDelayMax: mx},
			{Process: "clients", CPUSeconds: 3}}
	}
	tests := []struct {
		name     string
		upd      []float64
		procs    []record.ProcessStat
		bound    float64
		source   string
		reliable bool
		ahead    float64
	}{
		{"no canary: the most negative latency is the bound", append(latencies(990, 0.02), latencies(10, -0.004)...), nil, 0.004, "negative update latencies", true, 0},
		{"no canary, far negative", append(latencies(999, 0.02), -0.5), nil, 0.5, "negative update latencies", false, 0},
		{"no canary, nothing negative", latencies(10, 0.02), nil, 0, "negative update latencies", true, 0},
		{"canary: its largest delay, negatives beyond it are the controller's", append(latencies(900, 0.02), latencies(100, -0.5)...), canary(0.004, 0.012), 0.012, "observer canary", true, 0.1},
		{"slow canary", latencies(100, 0.02), canary(0.080, 0.2), 0.2, "observer canary", false, 0},
		{"no samples", nil, nil, 0, "none", true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := instrument(tt.upd, tt.procs, 8)
			if !near(in.ErrorBoundSeconds, tt.bound) || in.ErrorBoundSource != tt.source || in.Reliable != tt.reliable ||
				!near(in.AheadOfSlicesShare, tt.ahead) || (!in.Reliable) != (len(in.Reasons) > 0) {
				t.Errorf("instrument %+v", in)
			}
			if tt.procs != nil && (!near(in.DstloadCPUSeconds, 4) || !near(in.CPURatio, 0.5)) {
				t.Errorf("cpu %v ratio %v", in.DstloadCPUSeconds, in.CPURatio)
			}
		})
	}
}

// TestCriteriaWithinErrorBound: a criterion on an observer-based metric
// passes or fails only when the error bound cannot change that; other
// criteria are judged as usual.
func TestCriteriaWithinErrorBound(t *testing.T) {
	maxC := func(metric, raw string, v float64) scenario.Criterion {
		return scenario.Criterion{Metric: metric, Max: &scenario.Threshold{Raw: raw, Value: v}}
	}
	tests := []struct {
		name  string
		p95   float64
		bound float64
		crit  scenario.Criterion
		want  string
	}{
		{"margin cannot reach the threshold", 0.1, 0.26, maxC(scenario.UpdateLatencyP95, "500ms", 0.5), Pass},
		{"margin could cross the threshold", 0.3, 0.26, maxC(scenario.UpdateLatencyP95, "500ms", 0.5), Inconclusive},
		{"over the maximum already", 0.6, 0.26, maxC(scenario.UpdateLatencyP95, "500ms", 0.5), Fail},
		{"no error", 0.499, 0, maxC(scenario.UpdateLatencyP95, "500ms", 0.5), Pass},
		{"not observer-based", 0.3, 5, maxC(scenario.StreamErrors, "0", 0), Pass},
		{"min bound below, margin reaches it", 0.4, 0.2, scenario.Criterion{Metric: scenario.UpdateLatencyP95, Min: &scenario.Threshold{Raw: "500ms", Value: 0.5}}, Inconclusive},
		{"min bound met", 0.6, 0.2, scenario.Criterion{Metric: scenario.UpdateLatencyP95, Min: &scenario.Threshold{Raw: "500ms", Value: 0.5}}, Pass},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Report{UpdateLatency: Quantiles{Count: 10, P95: tt.p95}, Instrument: Instrument{ErrorBoundSeconds: tt.bound}}
			got := judge(r, &scenario.Scenario{Criteria: []scenario.Criterion{tt.crit}})[0]
			if got.Verdict != tt.want {
				t.Fatalf("%s, want %s (%s)", got.Verdict, tt.want, got.Reason)
			}
			if got.Verdict == Inconclusive && !strings.Contains(got.Reason, "may be up to") {
				t.Errorf("reason %q", got.Reason)
			}
		})
	}
}
