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
		reliable bool
		reason   string
		ahead    float64
	}{
		{"clean, no canary", append(latencies(990, 0.02), latencies(10, -0.004)...), nil, true, "", 0},
		{"1% beyond the skew bound is allowed", append(latencies(990, 0.02), latencies(10, -0.010)...), nil, true, "", 0},
		{"more than 1% beyond the skew bound", append(latencies(980, 0.02), latencies(20, -0.010)...), nil, false, "below -5ms", 0},
		{"one sample below the hard bound", append(latencies(999, 0.02), -0.5), nil, false, "smallest update latency is -500ms", 0},
		{"canary on time: negatives are the controller's", append(latencies(900, 0.02), latencies(100, -0.5)...), canary(0.004, 0.012), true, "", 0.1},
		{"slow canary", latencies(100, 0.02), canary(0.080, 0.2), false, "watch delay p99 is 80ms", 0},
		{"no samples", nil, nil, true, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := instrument(tt.upd, tt.procs, 8)
			if in.Reliable != tt.reliable || !strings.Contains(strings.Join(in.Reasons, "; "), tt.reason) || !near(in.AheadOfSlicesShare, tt.ahead) {
				t.Errorf("instrument %+v", in)
			}
			if tt.procs != nil && (!near(in.DstloadCPUSeconds, 4) || !near(in.CPURatio, 0.5)) {
				t.Errorf("cpu %v ratio %v", in.DstloadCPUSeconds, in.CPURatio)
			}
		})
	}
}

// TestUnreliableInstrument: with an unreliable instrument a latency
// criterion that would pass is inconclusive, one that fails its maximum
// still fails (a late observer only makes latencies smaller), and other
// criteria are judged as usual.
func TestUnreliableInstrument(t *testing.T) {
	s := &scenario.Scenario{Clients: scenario.Clients{Streams: 1}}
	crit := func(metric, raw string, v float64) scenario.Criterion {
		return scenario.Criterion{Metric: metric, Max: &scenario.Threshold{Raw: raw, Value: v}}
	}
	r := &Report{UpdateLatency: Quantiles{Count: 10, P95: 0.1, P99: 3}, Instrument: Instrument{Reasons: []string{"late"}}}
	s.Criteria = []scenario.Criterion{crit(scenario.UpdateLatencyP95, "500ms", 0.5), crit(scenario.UpdateLatencyP99, "2s", 2), crit(scenario.StreamErrors, "0", 0)}
	got := judge(r, s)
	want := []string{Inconclusive, Fail, Pass}
	for i, c := range got {
		if c.Verdict != want[i] {
			t.Errorf("%s: %s, want %s (%s)", c.Metric, c.Verdict, want[i], c.Reason)
		}
	}
	if !strings.Contains(got[0].Reason, "instrument unreliable: late") {
		t.Errorf("reason %q", got[0].Reason)
	}
}
