package report

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/dstload/dstload/workload/dstmetrics"
	"github.com/dstload/dstload/workload/record"
	"github.com/dstload/dstload/workload/scenario"
)

func TestFitLine(t *testing.T) {
	tests := []struct {
		name         string
		x, y         []float64
		a, b, se, r2 float64
		err          string
	}{
		// Exactly on a line: 40 MiB + 100 KiB per subscriber.
		{name: "exact", x: []float64{0, 250, 500, 1000, 2000},
			y: []float64{40 << 20, 40<<20 + 250*100<<10, 40<<20 + 500*100<<10, 40<<20 + 1000*100<<10, 40<<20 + 2000*100<<10},
			a: 40 << 20, b: 100 << 10, se: 0, r2: 1},
		// Residuals +1, -1, -1, +1 around y = 1 + 2x: b stays 2, a 1,
		// SSR 4, Sxx 5, se sqrt(4/2/5); SST 24, so R² 1 - 4/24.
		{name: "residuals", x: []float64{0, 1, 2, 3}, y: []float64{2, 2, 4, 8},
			a: 1, b: 2, se: math.Sqrt(4.0 / 2 / 5), r2: 1 - 4.0/24},
		{name: "flat", x: []float64{1, 2, 3}, y: []float64{5, 5, 5}, a: 5, b: 0, se: 0, r2: 1},
		{name: "two points", x: []float64{0, 1}, y: []float64{0, 1}, err: "2 points, need 3"},
		{name: "one x", x: []float64{3, 3, 3}, y: []float64{1, 2, 3}, err: "every point has x = 3"},
		{name: "lengths", x: []float64{1, 2, 3}, y: []float64{1, 2}, err: "3 x values, 2 y values"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := FitLine(tt.x, tt.y)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			near := func(got, want float64) bool { return math.Abs(got-want) <= 1e-9*max(1, math.Abs(want)) }
			if !near(f.InterceptBytes, tt.a) || !near(f.SlopeBytesPerSubscriber, tt.b) || !near(f.SlopeStdErrBytes, tt.se) || !near(f.R2, tt.r2) || f.Points != len(tt.x) {
				t.Errorf("fit %+v, want a %v b %v se %v R² %v", f, tt.a, tt.b, tt.se, tt.r2)
			}
		})
	}
}

// sample is a good destination sample at t0+sec.
func sample(t0 time.Time, sec float64, subs, heap, rss float64) dstmetrics.Sample {
	return dstmetrics.Sample{Time: t0.Add(time.Duration(sec * float64(time.Second))), Subscribers: subs, HeapInuseBytes: heap,
		ResidentMemoryBytes: rss, StartTime: 1, CPUSeconds: sec / 10, GRPCMsgSent: sec * 10}
}

func TestMemoryPerSubscriber(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	samples := []dstmetrics.Sample{
		sample(t0, 0, 0, 30<<20, 50<<20),
		sample(t0, 1, 0, 31<<20, 51<<20), // the last before the first stream (at 1.5 s)
		sample(t0, 2, 50, 35<<20, 56<<20),
		{Time: t0.Add(5 * time.Second), Error: "refused"},
		// The load window, 4..8 s: medians 100 subscribers, heap 41 MiB, rss 61 MiB.
		sample(t0, 4, 100, 40<<20, 60<<20),
		sample(t0, 6, 100, 41<<20, 61<<20),
		sample(t0, 8, 100, 45<<20, 62<<20),
		sample(t0, 9, 0, 31<<20, 62<<20),
	}
	first, from, to := t0.Add(1500*time.Millisecond), t0.Add(4*time.Second), t0.Add(8*time.Second)
	m := memoryPerSubscriber(samples, first, from, to, HeapProfiles{BeforeBytes: 20 << 20, LoadBytes: 30 << 20, BeforeAfterGCBytes: 25 << 20, LoadAfterGCBytes: 30 << 20})
	if !m.OK || m.WindowSamples != 3 || m.Subscribers != 100 || !m.BeforeTime.Equal(t0.Add(time.Second)) {
		t.Fatalf("%+v", m)
	}
	if m.HeapBytesPerSubscriber != float64(10<<20)/100 || m.RSSBytesPerSubscriber != float64(10<<20)/100 || m.ProfileBytesPerSubscriber != float64(10<<20)/100 {
		t.Errorf("per subscriber: heap %v rss %v profile %v, want %v", m.HeapBytesPerSubscriber, m.RSSBytesPerSubscriber, m.ProfileBytesPerSubscriber, float64(10<<20)/100)
	}
	if m.HeapAfterGCBytesPerSubscriber != float64(5<<20)/100 {
		t.Errorf("heap after GC per subscriber %v", m.HeapAfterGCBytesPerSubscriber)
	}
	if v, ok, _ := perSubscriber(&Report{Subscribers: &Subscribers{Memory: m}}, scenario.HeapPerSubscriber); !ok || v != float64(5<<20)/100 {
		t.Errorf("heap_per_subscriber %v %v, want the after-GC figure", v, ok)
	}
	for _, tt := range []struct {
		name            string
		first, from, to time.Time
		samples         []dstmetrics.Sample
		reason          string
	}{
		{"no stream", time.Time{}, from, to, samples, "no stream opened"},
		{"nothing before", t0, from, to, samples, "no destination metrics sample before the first stream"},
		{"empty window", first, t0.Add(time.Hour), t0.Add(2 * time.Hour), samples, "inside the load window"},
		{"no subscribers", first, t0.Add(9 * time.Second), t0.Add(10 * time.Second), samples, "counted no subscribers"},
	} {
		m := memoryPerSubscriber(tt.samples, tt.first, tt.from, tt.to, HeapProfiles{})
		if m.OK || !strings.Contains(m.Reason, tt.reason) {
			t.Errorf("%s: %+v, want reason %q", tt.name, m, tt.reason)
		}
	}
}

func TestSubscriberDistribution(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	set := record.Set{
		Sampling: []record.Sampling{{Client: "c0", Streams: 4, Node: "n0"}, {Client: "c1", Streams: 4, Node: "n1"}, {Client: "c2", Streams: 4, Node: "n0"}},
	}
	// Each client: 2 streams on each of 2 services.
	for _, c := range []string{"c0", "c1", "c2"} {
		for i, svc := range []string{"ns/a", "ns/a", "ns/b", "ns/b"} {
			set.Streams = append(set.Streams, record.StreamInfo{Client: c, Stream: uint32(i), Service: svc, Opened: t0.Add(time.Second)})
		}
	}
	smp := sample(t0, 2, 12, 1, 1)
	smp.SubscriberGroups, smp.SubscriberNodes = 4, 2
	s := subscribers(Input{Records: set, Destination: []dstmetrics.Sample{sample(t0, 0, 0, 1, 1), smp}}, t0.Add(2*time.Second), t0.Add(3*time.Second))
	want := []NodeStreams{{"n0", 2, 8}, {"n1", 1, 4}}
	if len(s.Nodes) != 2 || s.Nodes[0] != want[0] || s.Nodes[1] != want[1] {
		t.Errorf("nodes %+v, want %+v", s.Nodes, want)
	}
	// (a,n0) 4, (b,n0) 4, (a,n1) 2, (b,n1) 2.
	if s.FilterKeys != 4 || s.StreamsPerKeyMin != 2 || s.StreamsPerKeyMax != 4 || s.ControllerGroups != 4 || s.ControllerNodes != 2 {
		t.Errorf("keys %d (%d-%d), controller %d groups on %d nodes", s.FilterKeys, s.StreamsPerKeyMin, s.StreamsPerKeyMax, s.ControllerGroups, s.ControllerNodes)
	}
	if txt := subscribersText(s); !strings.Contains(txt, "2 client nodes, 4 filter keys (2-4 streams each), controller: 4 groups on 2 nodes") {
		t.Errorf("text %q", txt)
	}
}

func TestBuildSweep(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	// Three steps of 0, 100, 200 subscribers; heap = 20 MiB + 50 KiB per
	// subscriber, RSS = 40 MiB + 80 KiB per subscriber, each step's
	// window 3 samples at 1 s.
	var samples []dstmetrics.Sample
	var steps []SweepStep
	for k, subs := range []float64{0, 100, 200} {
		base := float64(10 * k)
		for i := range 6 {
			heap := 20<<20 + subs*(50<<10)
			if i == 4 {
				heap += 1 << 20 // one GC sawtooth inside the window: the median ignores it
			}
			samples = append(samples, sample(t0, base+float64(i), subs, heap, 40<<20+subs*(80<<10)))
		}
		steps = append(steps, SweepStep{Streams: int(subs), Started: t0.Add(time.Duration(base) * time.Second),
			Held: t0.Add(time.Duration(base+1) * time.Second), WindowFrom: t0.Add(time.Duration(base+3) * time.Second),
			Ended: t0.Add(time.Duration(base+5) * time.Second), Steady: k != 1, ProfileInuseBytes: 10<<20 + subs*(30<<10)})
	}
	sw := buildSweep(steps, samples)
	if sw.Heap == nil || sw.RSS == nil || sw.Profile == nil {
		t.Fatalf("no fit: %s", sw.FitError)
	}
	if sw.HeapSource != HeapWindowMedian || sw.Heap.SlopeBytesPerSubscriber != 50<<10 || sw.Heap.InterceptBytes != 20<<20 || sw.Heap.R2 != 1 {
		t.Errorf("heap fit (%s) %+v", sw.HeapSource, *sw.Heap)
	}
	// With the heap after a forced GC at every step, that is the heap fit;
	// the window medians' stays alongside.
	gc := append([]SweepStep(nil), steps...)
	for i := range gc {
		gc[i].HeapAfterGCBytes = 15<<20 + float64(gc[i].Streams)*(40<<10)
	}
	if g := buildSweep(gc, samples); g.HeapSource != HeapAfterGC || g.Heap.SlopeBytesPerSubscriber != 40<<10 || g.HeapWindow.SlopeBytesPerSubscriber != 50<<10 {
		t.Errorf("after GC: source %q heap %+v window %+v", g.HeapSource, g.Heap, g.HeapWindow)
	}
	if math.Abs(sw.RSS.SlopeBytesPerSubscriber-80<<10) > 1e-6 || math.Abs(sw.Profile.SlopeBytesPerSubscriber-30<<10) > 1e-6 {
		t.Errorf("rss fit %+v, profile fit %+v", *sw.RSS, *sw.Profile)
	}
	st := sw.Steps[1]
	if sw.Unsteady != 1 || st.Samples != 3 || st.HeapRangeBytes != 1<<20 || st.Subscribers != 100 {
		t.Errorf("step 1 %+v, unsteady %d", st, sw.Unsteady)
	}
	// CPU is sec/10 and messages sent sec*10 in the fixture: 0.5 s and
	// 50 messages over the 5 s step.
	if math.Abs(st.CPUSeconds-0.5) > 1e-9 || st.MessagesSent != 50 || math.Abs(st.CPUPerMessageSeconds-0.01) > 1e-12 {
		t.Errorf("step 1 cpu %v messages %v cpu/message %v", st.CPUSeconds, st.MessagesSent, st.CPUPerMessageSeconds)
	}
	r := &Report{Sweep: sw}
	for metric, want := range map[string]float64{scenario.HeapPerSubscriber: 50 << 10, scenario.MemoryPerSubscriber: sw.RSS.SlopeBytesPerSubscriber} {
		if v, ok, reason := measure(r, metric); !ok || v != want {
			t.Errorf("%s = %v %v %q, want %v", metric, v, ok, reason, want)
		}
	}
	if none := buildSweep(steps[:2], samples); none.Heap != nil || !strings.Contains(none.FitError, "2 points, need 3") {
		t.Errorf("two steps: %+v", none)
	}
}

func TestSteady(t *testing.T) {
	for _, tt := range []struct {
		name    string
		w       WindowStats
		streams int
		want    bool
	}{
		{"flat", WindowStats{Samples: 3, Subscribers: 100, HeapInuseBytes: 100 << 20, HeapRangeBytes: 3 << 20}, 100, true},
		{"beyond 5%", WindowStats{Samples: 3, Subscribers: 100, HeapInuseBytes: 100 << 20, HeapRangeBytes: 6 << 20}, 100, false},
		{"small heap, the floor", WindowStats{Samples: 3, Subscribers: 0, HeapInuseBytes: 10 << 20, HeapRangeBytes: 2 << 20}, 0, true},
		{"too few samples", WindowStats{Samples: 2, Subscribers: 100, HeapInuseBytes: 100 << 20}, 100, false},
		{"subscribers short", WindowStats{Samples: 3, Subscribers: 99, HeapInuseBytes: 100 << 20}, 100, false},
	} {
		if got := tt.w.Steady(tt.streams); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestCompareSubscriberCost: a change like linkerd2 #15166 (heap per
// subscriber down 84%) reads as an improvement, the reverse as a
// regression, and a change within the fits' uncertainty as neither.
func TestCompareSubscriberCost(t *testing.T) {
	sweep := func(heapB, heapSE, rssB float64) *Report {
		return &Report{Verdict: Pass, Scenario: Scenario{Name: "subscriber-cost", Shape: "s"}, Sweep: &Sweep{
			Heap: &Fit{Points: 5, InterceptBytes: 40 << 20, SlopeBytesPerSubscriber: heapB, SlopeStdErrBytes: heapSE, R2: 0.99},
			RSS:  &Fit{Points: 5, InterceptBytes: 60 << 20, SlopeBytesPerSubscriber: rssB, SlopeStdErrBytes: 1 << 10, R2: 0.98},
		}}
	}
	before := sweep(330<<10, 5<<10, 400<<10)
	tests := []struct {
		name         string
		a, b         *Report
		regressions  []string
		improvements []string
	}{
		{"shared filtering", before, sweep(53<<10, 2<<10, 80<<10), nil, []string{"heap per subscriber", "rss per subscriber"}},
		{"the reverse", sweep(53<<10, 2<<10, 80<<10), before, []string{"heap per subscriber", "rss per subscriber"}, nil},
		// +40 KiB is beyond 10% of 330 KiB but within twice the combined
		// standard error (2 x hypot(5, 30) KiB = 61 KiB).
		{"within the fits' error", before, sweep(370<<10, 30<<10, 400<<10), nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Compare(tt.a, tt.b, "a", "b", 0.1)
			var reg, imp []string
			for _, r := range c.Rows {
				if r.Regression {
					reg = append(reg, r.Metric)
				}
				if r.Improvement {
					imp = append(imp, r.Metric)
				}
			}
			if strings.Join(reg, ",") != strings.Join(tt.regressions, ",") || strings.Join(imp, ",") != strings.Join(tt.improvements, ",") {
				t.Errorf("regressions %v improvements %v; want %v, %v", reg, imp, tt.regressions, tt.improvements)
			}
		})
	}
	c := Compare(before, sweep(53<<10, 2<<10, 80<<10), "a", "b", 0.1)
	var b strings.Builder
	if err := WriteComparison(&b, c); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"heap per subscriber", "330.0KiB", "53.0KiB", "-83.9%", "IMPROVEMENT (beyond 10% and", "2 improvement(s) beyond 10% tolerance"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}
