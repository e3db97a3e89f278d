package report

import (
	"strings"
	"testing"
	"time"

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
		addLead  float64
		procs    []record.ProcessStat
		bound    float64
		source   string
		reliable bool
		ahead    float64
	}{
		{"no canary: the most negative latency is the bound", append(latencies(990, 0.02), latencies(10, -0.004)...), 0.004, nil, 0.004, "negative update latencies", true, 0},
		{"no canary, far negative", append(latencies(999, 0.02), -0.5), 0, nil, 0.5, "negative update latencies", false, 0},
		{"no canary, nothing negative", latencies(10, 0.02), 0, nil, 0, "negative update latencies", true, 0},
		{"canary: its largest delay, negatives beyond it are the controller's", append(latencies(900, 0.02), latencies(100, -0.5)...), 0, canary(0.004, 0.012), 0.012, "observer canary", true, 0.1},
		{"canary, an Add within its delay", append(latencies(999, 0.02), -0.003), 0.003, canary(0.004, 0.012), 0.012, "observer canary", true, 0},
		// An etcd watch response the observer got 158 ms late (a
		// full-size run): 2,300 Adds came before it, the canary saw 0.8 ms.
		{"canary, an Add beyond its delay widens the bound", append(latencies(900, 0.02), latencies(100, -0.158)...), 0.158, canary(0.0002, 0.0008), 0.158, "an Add ahead of the observer", false, 0},
		{"slow canary", latencies(100, 0.02), 0, canary(0.080, 0.2), 0.2, "observer canary", false, 0},
		{"no samples", nil, 0, nil, 0, "none", true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := instrument(tt.upd, tt.addLead, tt.procs, 8)
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

// TestClusterLimitedEvents: fanout and missed-stream criteria judge only
// events the cluster completed; when too many were cluster-limited they
// are inconclusive, and a failure of the controller's still fails.
func TestClusterLimitedEvents(t *testing.T) {
	events := func(outcomes ...string) []Event {
		var out []Event
		for i, o := range outcomes {
			out = append(out, Event{Service: "ns/a", Seq: uint64(i + 1), Outcome: o, FanoutComplete: o == record.OutcomeComplete,
				KubeReached: o == record.OutcomeComplete || o == record.OutcomeController})
		}
		return out
	}
	repeat := func(o string, n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = o
		}
		return out
	}
	c, l, k := record.OutcomeComplete, record.OutcomeClusterLimited, record.OutcomeController
	fanout := scenario.Criterion{Metric: scenario.FanoutCompletionMax, Max: &scenario.Threshold{Raw: "10s", Value: 10}}
	missed := scenario.Criterion{Metric: scenario.MissedStreams, Max: &scenario.Threshold{Raw: "0", Value: 0}}
	tests := []struct {
		name                   string
		outcomes               []string
		missed, limitedMissed  int
		wantFanout, wantMissed string
	}{
		{"all complete", repeat(c, 10), 0, 0, Pass, Pass},
		{"one in ten cluster-limited is tolerated", append(repeat(c, 9), l), 5, 5, Pass, Pass},
		{"three in ten cluster-limited", append(repeat(c, 7), l, l, l), 15, 15, Inconclusive, Inconclusive},
		{"the controller missed too", append(repeat(c, 6), k, l, l, l), 16, 15, Fail, Fail},
		{"nothing completed by the cluster", repeat(l, 4), 8, 8, Inconclusive, Inconclusive},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Report{Events: events(tt.outcomes...), FanoutCompletion: Quantiles{Count: 1, Max: 1},
				Totals: Totals{MissedStreams: tt.missed, ClusterLimitedMissedStreams: tt.limitedMissed}}
			got := judge(r, &scenario.Scenario{Criteria: []scenario.Criterion{fanout, missed}})
			if got[0].Verdict != tt.wantFanout || got[1].Verdict != tt.wantMissed {
				t.Fatalf("fanout %s (%s), missed %s (%s); want %s, %s", got[0].Verdict, got[0].Reason, got[1].Verdict, got[1].Reason, tt.wantFanout, tt.wantMissed)
			}
			if got[0].Verdict == Inconclusive && !strings.Contains(got[0].Reason, "cluster-limited") {
				t.Errorf("reason %q", got[0].Reason)
			}
		})
	}
}

// TestAddLead: only Adds that came before the observer count; Removes
// may come early because the pod was deleted (docs/latency.md).
func TestAddLead(t *testing.T) {
	ul := func(ready bool, ms int) record.UpdateLatency {
		return record.UpdateLatency{StreamChange: record.StreamChange{Ready: ready}, Latency: time.Duration(ms) * time.Millisecond}
	}
	tests := []struct {
		name string
		upd  []record.UpdateLatency
		want float64
	}{
		{"none", nil, 0},
		{"all after", []record.UpdateLatency{ul(true, 3), ul(false, 10)}, 0},
		{"the earliest Add", []record.UpdateLatency{ul(true, -2), ul(true, -158), ul(true, 40)}, 0.158},
		{"an early Remove is not counted", []record.UpdateLatency{ul(false, -300), ul(true, -1)}, 0.001},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := addLead(tt.upd); !near(got, tt.want) {
				t.Errorf("addLead = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestInstrumentTextAddLead: the one-line summary (report.html, the
// summary's instrument line) names an Add ahead of the observer.
func TestInstrumentTextAddLead(t *testing.T) {
	upd := append(latencies(99, 0.02), -0.158)
	for _, tt := range []struct {
		lead float64
		want bool
	}{{0.158, true}, {0, false}} {
		got := instrumentText(instrument(upd, tt.lead, nil, 8))
		if strings.Contains(got, "before the observer saw its slice") != tt.want {
			t.Errorf("lead %v: %q", tt.lead, got)
		}
	}
}
