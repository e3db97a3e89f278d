package report

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dstload/dstload/workload/dstmetrics"
	"github.com/dstload/dstload/workload/record"
	"github.com/dstload/dstload/workload/scenario"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

const svc = "dst/svc-0"

// fixture is one service oscillating 1 -> 3 -> 1 under two streams, one of
// them sampled. Stream c/2 misses the second event.
func fixture() record.Set {
	ch := func(addr string, ready bool, ms int, initial bool) record.EndpointChange {
		return record.EndpointChange{Service: svc, Addr: addr, Ready: ready, Time: at(ms), Initial: initial}
	}
	rc := func(addr string, add bool, ms int) record.Receipt {
		return record.Receipt{Client: "c", Stream: 1, Service: svc, Addr: addr, Add: add, Time: at(ms)}
	}
	sc := func(stream uint32, seq uint64, target, first, conv int) record.StreamConvergence {
		c := record.StreamConvergence{Client: "c", Stream: stream, Service: svc, Seq: seq, Target: target}
		if first > 0 {
			c.FirstChange = at(first)
		}
		if conv > 0 {
			c.Converged = at(conv)
		} else {
			c.Missed = true
		}
		return c
	}
	return record.Set{
		ScaleEvents: []record.ScaleEvent{
			{Service: svc, Deployment: "svc-0", Seq: 1, Target: 3, Time: at(1000), Attempts: 1},
			{Service: svc, Deployment: "svc-0", Seq: 2, Target: 1, Time: at(10000), Attempts: 1},
		},
		EndpointChanges: []record.EndpointChange{
			ch("10.0.0.1:80", true, 0, true),
			ch("10.0.0.2:80", true, 2000, false), ch("10.0.0.3:80", true, 2500, false),
			ch("10.0.0.2:80", false, 11000, false), ch("10.0.0.3:80", false, 11200, false),
		},
		KubeConvergence: []record.KubeConvergence{
			{Service: svc, Seq: 1, Target: 3, Reached: true, Time: at(2500)},
			{Service: svc, Seq: 2, Target: 1, Reached: true, Time: at(11200)},
		},
		Streams: []record.StreamInfo{
			{Client: "c", Stream: 1, Service: svc, Sampled: true, Opened: at(100)},
			{Client: "c", Stream: 2, Service: svc, Opened: at(100), Reconnects: 1},
		},
		Receipts: []record.Receipt{
			rc("10.0.0.1:80", true, 150),
			rc("10.0.0.2:80", true, 2050), rc("10.0.0.3:80", true, 2600),
			rc("10.0.0.2:80", false, 11100), rc("10.0.0.3:80", false, 11300),
		},
		StreamConvergence: []record.StreamConvergence{
			sc(1, 1, 3, 2050, 2600), sc(2, 1, 3, 2100, 2700),
			sc(1, 2, 1, 11100, 11300), sc(2, 2, 1, 11150, 0),
		},
		StreamEnds: []record.StreamEnd{
			{Client: "c", Stream: 2, Service: svc, Time: at(5000), Cause: "Unavailable"},
			{Client: "c", Stream: 2, Service: svc, Time: at(6000), Cause: record.CauseEndOK},
			{Client: "c", Stream: 1, Service: svc, Time: at(7000), Cause: record.CauseLifetime},
		},
		Sampling: []record.Sampling{{Client: "c", Streams: 2, Sampled: 1}},
	}
}

func samples() []dstmetrics.Sample {
	s := func(ms int, rss, cpu, start, subs, overflow float64) dstmetrics.Sample {
		return dstmetrics.Sample{Time: at(ms), ResidentMemoryBytes: rss, CPUSeconds: cpu, Goroutines: 100 + subs,
			StartTime: start, Subscribers: subs, QueueOverflows: overflow}
	}
	return []dstmetrics.Sample{
		s(0, 100<<20, 1, 1000, 0, 0),
		s(1000, 110<<20, 2, 1000, 2, 1),
		{Time: at(4000), Error: "connection refused"},
		// Restarted: counters begin again.
		s(5000, 50<<20, 0.5, 1004, 1, 0),
		s(12000, 60<<20, 1.5, 1004, 2, 2),
	}
}

func mustScenario(t *testing.T, yaml string) *scenario.Scenario {
	t.Helper()
	s, err := scenario.Parse([]byte(yaml), "test")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const testScenario = `
name: tiny
services: {count: 1}
churn: {pattern: oscillate, min: 1, max: 3, holdMax: 9s, holdMin: 9s, cycles: 1}
clients: {streams: 2}
criteria:
  - {metric: update_latency_p95, max: 200ms}
  - {metric: update_latency_p50, max: 60ms}
  - {metric: fanout_completion_max, max: 10s}
  - {metric: missed_streams, max: 0}
  - {metric: stream_errors, max: 1}
  - {metric: subscriptions_held, min: 100%}
  - {metric: destination_memory_max, max: 100MiB}
  - {metric: destination_restarts, max: 0}
  - {metric: endpoint_updates_queue_overflow, max: 3}
  - {metric: destination_memory_growth, max: 10%}
`

func build(t *testing.T) *Report {
	t.Helper()
	return Build(Input{
		Scenario: mustScenario(t, testScenario), Overrides: scenario.Overrides{Scale: 0.5, Cycles: 1},
		Tool:        Tool{Name: "dstload", Version: "test"},
		Environment: Environment{Name: "e", Provider: "local", ClockSource: "single host clock"},
		Started:     at(0), Ended: at(13000), LoadStart: at(500), LoadEnd: at(12500),
		Records: fixture(), MetricsURL: "http://127.0.0.1:1/metrics", MetricsInterval: time.Second,
		Destination: samples(),
	})
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }

func TestBuild(t *testing.T) {
	r := build(t)
	if r.SchemaVersion != SchemaVersion {
		t.Fatalf("schemaVersion %d", r.SchemaVersion)
	}
	// Update latencies: 50ms, 100ms, 100ms, 100ms (the initial endpoint's
	// snapshot receipt is not a change).
	want := Quantiles{Count: 4, P50: 0.1, P95: 0.1, P99: 0.1, P999: 0.1, Max: 0.1, Mean: 0.0875}
	u := r.UpdateLatency
	if u.Count != want.Count || !near(u.P50, want.P50) || !near(u.Max, want.Max) || !near(u.Mean, want.Mean) {
		t.Errorf("update latency = %+v, want %+v", u, want)
	}
	if len(r.Events) != 2 {
		t.Fatalf("events = %d", len(r.Events))
	}
	e1, e2 := r.Events[0], r.Events[1]
	if !e1.KubeReached || !near(e1.KubeConvergenceSeconds, 1.5) || !e1.FanoutComplete || !near(e1.FanoutCompletionSeconds, 0.2) {
		t.Errorf("event 1 = %+v", e1)
	}
	if e1.E2E.Count != 2 || !near(e1.E2E.Max, 1.7) || e1.UpdateLatency.Count != 2 || !near(e1.UpdateLatency.P50, 0.05) {
		t.Errorf("event 1 quantiles: e2e %+v update %+v", e1.E2E, e1.UpdateLatency)
	}
	if e2.FanoutComplete || e2.Missed != 1 || e2.Converged != 1 || e2.UpdateLatency.Count != 2 {
		t.Errorf("event 2 = %+v", e2)
	}
	tt := r.Totals
	if tt.ScaleEvents != 2 || tt.EndpointChanges != 4 || tt.Streams != 2 || tt.StreamsExpected != 2 || tt.Reconnects != 1 ||
		tt.MissedStreams != 1 || tt.StreamErrors != 1 || tt.StreamResets != 1 || tt.StreamEnds[record.CauseLifetime] != 1 {
		t.Errorf("totals = %+v", tt)
	}
	if r.Sampling.Rate != 0.5 {
		t.Errorf("sampling = %+v", r.Sampling)
	}
	d := r.Destination
	if d.Restarts != 1 || d.ScrapeErrors != 1 || d.MemoryMaxBytes != 110<<20 || !near(d.CPUSeconds, 2.5) || d.QueueOverflows != 3 {
		t.Errorf("destination = %+v", d)
	}
	if d.LoadSamples != 3 || d.SubscribersLoadMin != 1 || d.MemoryLoadStartBytes != 110<<20 || d.MemoryLoadEndBytes != 60<<20 {
		t.Errorf("destination load window = %+v", d)
	}
	// Desired starts at 1 endpoint, goes to 3 and back; observed follows.
	var desired, observed []int
	for _, p := range r.Endpoints {
		desired = append(desired, p.Desired)
		observed = append(observed, p.Observed)
	}
	if got, want := desired, []int{1, 3, 3, 3, 1, 1, 1}; !equal(got, want) {
		t.Errorf("desired = %v, want %v", got, want)
	}
	if got, want := observed, []int{1, 1, 2, 3, 3, 2, 1}; !equal(got, want) {
		t.Errorf("observed = %v, want %v", got, want)
	}

	verdicts := map[string]string{}
	for _, c := range r.Criteria {
		verdicts[c.Metric] = c.Verdict
	}
	wantVerdicts := map[string]string{
		scenario.UpdateLatencyP95:     Pass,
		scenario.UpdateLatencyP50:     Fail, // 100ms > 60ms
		scenario.FanoutCompletionMax:  Fail, // event 2 incomplete
		scenario.MissedStreams:        Fail,
		scenario.StreamErrors:         Pass, // 1 <= 1
		scenario.SubscriptionsHeld:    Fail, // 1 of 2 during the restart
		scenario.DestinationMemoryMax: Fail, // 110MiB is not < 100MiB
		scenario.DestinationRestarts:  Fail,
		scenario.QueueOverflows:       Pass, // 3 <= 3
		scenario.DestinationMemGrowth: Pass, // shrank
	}
	for m, v := range wantVerdicts {
		if verdicts[m] != v {
			t.Errorf("%s verdict %s, want %s", m, verdicts[m], v)
		}
	}
	if r.Verdict != Fail {
		t.Errorf("verdict %s", r.Verdict)
	}
	for _, c := range r.Criteria {
		if c.Metric == scenario.FanoutCompletionMax && !strings.Contains(c.Reason, "1 of 2 events that the cluster completed never completed") {
			t.Errorf("fanout reason %q", c.Reason)
		}
	}
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestNoDataFails(t *testing.T) {
	s := mustScenario(t, `
name: quiet
services: {count: 1, endpoints: 2}
churn: {pattern: stable, duration: 1s}
clients: {streams: 1}
criteria:
  - {metric: update_latency_p99, max: 1s}
  - {metric: destination_memory_max, max: 1GiB}
  - {metric: destination_memory_growth, max: 10%}
  - {metric: stream_errors, max: 0}
`)
	r := Build(Input{Scenario: s, Started: at(0), Ended: at(1000)})
	want := []struct{ verdict, reason string }{
		{Fail, "no update latency samples"},
		{Fail, "no destination metrics sample"},
		{Fail, "0 destination metrics samples inside the load window, need 2"},
		{Pass, ""},
	}
	for i, w := range want {
		c := r.Criteria[i]
		if c.Verdict != w.verdict || c.Reason != w.reason {
			t.Errorf("%s: %s %q, want %s %q", c.Metric, c.Verdict, c.Reason, w.verdict, w.reason)
		}
		if w.reason != "" && (c.Measured != nil || c.MeasuredText != "no data") {
			t.Errorf("%s: measured %v %q, want no data", c.Metric, c.Measured, c.MeasuredText)
		}
	}
}

func TestQuantiles(t *testing.T) {
	var v []float64
	for i := 1000; i >= 1; i-- {
		v = append(v, float64(i))
	}
	q := quantiles(v)
	if q.P50 != 500 || q.P95 != 950 || q.P99 != 990 || q.P999 != 999 || q.Max != 1000 || q.Count != 1000 {
		t.Fatalf("quantiles = %+v", q)
	}
	if q := quantiles([]float64{7}); q.P50 != 7 || q.P999 != 7 {
		t.Fatalf("single = %+v", q)
	}
	c := cdf(v, 10)
	if len(c) != 11 || c[0].Seconds != 1 || c[10].Seconds != 1000 || c[5].Fraction != 0.5 {
		t.Fatalf("cdf = %+v", c)
	}
}

func TestWriteAndRead(t *testing.T) {
	r := build(t)
	for _, format := range []string{"svg", "png"} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			files, err := Write(dir, r, format)
			if err != nil {
				t.Fatal(err)
			}
			if len(files.Plots) != 3 {
				t.Fatalf("plots = %v", files.Plots)
			}
			for _, p := range files.Plots {
				data, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				magic := map[string]string{"svg": "<svg", "png": "\x89PNG"}[format]
				if !bytes.Contains(data[:min(len(data), 200)], []byte(magic)) || len(data) < 1000 {
					t.Errorf("%s is not a %s plot (%d bytes)", p, format, len(data))
				}
			}
			back, err := ReadFile(files.JSON)
			if err != nil {
				t.Fatal(err)
			}
			a, _ := json.Marshal(r)
			b, _ := json.Marshal(back)
			if !bytes.Equal(a, b) {
				t.Errorf("report.json does not round-trip")
			}
			md, err := os.ReadFile(files.Markdown)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"# dstload report: tiny — FAIL", "| FAIL | p50 < 60ms | 100ms |",
				"![latency-cdf](latency-cdf." + format + ")", "| dst/svc-0 | 2 | 1 |", "incomplete", "Unavailable 1"} {
				if !strings.Contains(string(md), want) {
					t.Errorf("report.md lacks %q", want)
				}
			}
		})
	}
	if _, err := WritePlots(t.TempDir(), r, "gif"); err == nil {
		t.Error("gif accepted")
	}
}

func TestReadFileRejects(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct{ path, want string }{
		{write("garbage.json", "{not json"), "not JSON"},
		{write("other.json", `{"foo": 1}`), "no schemaVersion"},
		{write("future.json", `{"schemaVersion": 2}`), "schemaVersion 2, this dstload reads 1"},
		{filepath.Join(dir, "missing.json"), "no such file"},
	}
	for _, tt := range tests {
		if _, err := ReadFile(tt.path); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err %v, want %q", tt.path, err, tt.want)
		}
	}
}

func TestSummary(t *testing.T) {
	var b bytes.Buffer
	if err := WriteSummary(&b, build(t)); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"tiny: FAIL", "update latency", "p50 100ms", "1 of 2 streams sampled",
		"1 of 2 events complete", "2 of 2 opened, 1 errors, 1 resets", "restarts 1",
		"FAIL  fanout < 10s", "(1 of 2 events that the cluster completed never completed"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
}

func TestCompare(t *testing.T) {
	a := build(t)
	worse := func(mut func(*Report)) *Report {
		var c Report
		data, _ := json.Marshal(a)
		json.Unmarshal(data, &c)
		mut(&c)
		return &c
	}
	tests := []struct {
		name                      string
		b                         *Report
		regressions, improvements []string
		warning                   string
	}{
		{name: "same", b: worse(func(*Report) {})},
		{name: "slower updates", b: worse(func(r *Report) { r.UpdateLatency.P99 = 0.5; r.UpdateLatency.Max = 0.6 }),
			regressions: []string{"update latency p99", "update latency max"}},
		{name: "within tolerance", b: worse(func(r *Report) { r.UpdateLatency.P99 = 0.109 })},
		{name: "below noise floor", b: worse(func(r *Report) { r.UpdateLatency.P50 = 0.104 })},
		{name: "better is an improvement", b: worse(func(r *Report) { r.UpdateLatency.P99 = 0.01; r.Destination.MemoryMaxBytes = 1 }),
			improvements: []string{"update latency p99", "destination memory max"}},
		{name: "better below the floor is not", b: worse(func(r *Report) { r.UpdateLatency.P50 -= 0.004 })},
		{name: "more memory and errors", b: worse(func(r *Report) { r.Destination.MemoryMaxBytes *= 2; r.Totals.StreamErrors = 3 }),
			regressions: []string{"stream errors", "destination memory max"}},
		{name: "cluster slower is context", b: worse(func(r *Report) { r.KubeConvergence.P99 *= 10 })},
		{name: "lost data", b: worse(func(r *Report) { r.UpdateLatency = Quantiles{} }),
			regressions: []string{"update latency p50", "update latency p95", "update latency p99", "update latency p99.9", "update latency max"}},
		{name: "different scenario", b: worse(func(r *Report) { r.Scenario.Name = "other" }), warning: "different scenarios"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Compare(a, tt.b, "a.json", "b.json", 0.1)
			var got []string
			for _, r := range c.Rows {
				if r.Regression {
					got = append(got, r.Metric)
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.regressions, ",") || c.Regressions != len(tt.regressions) {
				t.Errorf("regressions %v (%d), want %v", got, c.Regressions, tt.regressions)
			}
			var better []string
			for _, r := range c.Rows {
				if r.Improvement {
					better = append(better, r.Metric)
				}
			}
			if strings.Join(better, ",") != strings.Join(tt.improvements, ",") || c.Improvements != len(tt.improvements) {
				t.Errorf("improvements %v (%d), want %v", better, c.Improvements, tt.improvements)
			}
			if tt.warning != "" && (len(c.Warnings) == 0 || !strings.Contains(c.Warnings[0], tt.warning)) {
				t.Errorf("warnings %v, want %q", c.Warnings, tt.warning)
			}
			var b bytes.Buffer
			if err := WriteComparison(&b, c); err != nil {
				t.Fatal(err)
			}
			if len(tt.regressions) > 0 && !strings.Contains(b.String(), "REGRESSION (beyond 10% and") {
				t.Errorf("table lacks REGRESSION with its tolerance and floor:\n%s", b.String())
			}
			if len(tt.improvements) > 0 && !strings.Contains(b.String(), "IMPROVEMENT (beyond 10% and") {
				t.Errorf("table lacks IMPROVEMENT with its tolerance and floor:\n%s", b.String())
			}
		})
	}
	// A verdict that flips to fail is a regression on its own.
	pass := worse(func(r *Report) { r.Verdict = Pass })
	c := Compare(pass, a, "a", "b", 0.1)
	if !c.Rows[0].Regression || c.Rows[0].Metric != "verdict" {
		t.Errorf("verdict row = %+v", c.Rows[0])
	}
}
