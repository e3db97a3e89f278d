package report

import (
	"math"
	"sort"
	"time"

	"gonum.org/v1/gonum/stat"

	"github.com/dstload/dstload/workload/dstmetrics"
	"github.com/dstload/dstload/workload/record"
	"github.com/dstload/dstload/workload/scenario"
)

func destination(in Input) Destination {
	d := Destination{MetricsURL: in.MetricsURL, IntervalSeconds: in.MetricsInterval.Seconds(), Samples: in.Destination}
	if d.Samples == nil {
		d.Samples = []dstmetrics.Sample{}
	}
	var first, last *dstmetrics.Sample
	d.SubscribersLoadMin = math.Inf(1)
	upBefore := false
	for i := range in.Destination {
		s := &in.Destination[i]
		if !s.OK() {
			d.ScrapeErrors++
			continue
		}
		if first == nil {
			first = s
		} else if s.StartTime != last.StartTime || s.CPUSeconds < last.CPUSeconds {
			// A new process: its counters restart from zero.
			d.Restarts++
			d.QueueOverflows += last.QueueOverflows
			d.CPUSeconds += last.CPUSeconds
		}
		last = s
		upBefore = true
		d.MemoryMaxBytes = max(d.MemoryMaxBytes, s.ResidentMemoryBytes)
		d.GoroutinesMax = max(d.GoroutinesMax, s.Goroutines)
		d.SubscribersMax = max(d.SubscribersMax, s.Subscribers)
		if inWindow(s.Time, in.LoadStart, in.LoadEnd) {
			if d.LoadSamples == 0 {
				d.MemoryLoadStartBytes = s.ResidentMemoryBytes
			}
			d.LoadSamples++
			d.MemoryLoadEndBytes = s.ResidentMemoryBytes
			d.SubscribersLoadMin = min(d.SubscribersLoadMin, s.Subscribers)
		}
	}
	if first != nil {
		d.QueueOverflows += last.QueueOverflows - first.QueueOverflows
		d.CPUSeconds += last.CPUSeconds - first.CPUSeconds
	}
	// The controller stopped answering and never came back: count it as a
	// crash, since the run cannot tell it from one.
	if n := len(in.Destination); upBefore && n > 0 && !in.Destination[n-1].OK() {
		d.Restarts++
	}
	if d.LoadSamples == 0 {
		d.SubscribersLoadMin = 0
	}
	d.MemoryGrowthPerHourBytes, d.MemorySlopeSamples = MemorySlope(in.Destination, in.LoadStart, in.LoadEnd)
	return d
}

// MemorySlope fits a least-squares line through the good samples' resident
// memory inside [from, to] and returns its slope in bytes per hour, and
// how many samples it used (fewer than 2: no slope).
func MemorySlope(samples []dstmetrics.Sample, from, to time.Time) (perHour float64, n int) {
	var xs, ys []float64
	for _, s := range samples {
		if s.OK() && inWindow(s.Time, from, to) {
			xs = append(xs, s.Time.Sub(from).Hours())
			ys = append(ys, s.ResidentMemoryBytes)
		}
	}
	if len(xs) < 2 || xs[len(xs)-1] == xs[0] {
		return 0, len(xs)
	}
	_, beta := stat.LinearRegression(xs, ys, nil, false)
	return beta, len(xs)
}

func inWindow(t, from, to time.Time) bool {
	return !from.IsZero() && !t.Before(from) && (to.IsZero() || !t.After(to))
}

// endpointSeries replays scale targets and observed endpoint changes into
// desired vs observed totals, thinned to at most maxPoints.
func endpointSeries(set record.Set, s *scenario.Scenario, maxPoints int) []EndpointPoint {
	type step struct {
		t       time.Time
		service string
		target  int
		addr    string
		ready   bool
		isScale bool
	}
	var steps []step
	// A federated run's service has members in each cluster its events
	// name: desired is their union (Want).
	clusters := map[string]bool{}
	for _, e := range set.ScaleEvents {
		steps = append(steps, step{t: e.Time, service: e.Service, target: e.Want(), isScale: true})
		clusters[e.Cluster] = true
	}
	startSize := s.Services.Endpoints * max(1, len(clusters))
	for _, c := range set.EndpointChanges {
		steps = append(steps, step{t: c.Time, service: c.Service, addr: c.Addr, ready: c.Ready})
	}
	if len(steps) == 0 {
		return []EndpointPoint{}
	}
	sort.SliceStable(steps, func(i, j int) bool { return steps[i].t.Before(steps[j].t) })

	targets := map[string]int{}
	desired := 0
	services := map[string]bool{}
	for _, st := range steps {
		services[st.service] = true
	}
	// Before its first event a service is at the scenario's start size.
	for svc := range services {
		targets[svc] = startSize
		desired += startSize
	}
	ready := map[string]bool{}
	var pts []EndpointPoint
	for _, st := range steps {
		if st.isScale {
			desired += st.target - targets[st.service]
			targets[st.service] = st.target
		} else {
			k := st.service + "|" + st.addr
			ready[k] = st.ready
			if !st.ready {
				delete(ready, k)
			}
		}
		p := EndpointPoint{Time: st.t.UTC(), Desired: desired, Observed: len(ready)}
		if n := len(pts); n > 0 && pts[n-1].Time.Equal(p.Time) {
			pts[n-1] = p
			continue
		}
		pts = append(pts, p)
	}
	if len(pts) <= maxPoints {
		return pts
	}
	// Thin by time buckets, keeping each bucket's last state and every
	// change of desired (the steps people look for).
	start, end := pts[0].Time, pts[len(pts)-1].Time
	bucket := end.Sub(start) / time.Duration(maxPoints/2)
	var out []EndpointPoint
	for i, p := range pts {
		last := i == len(pts)-1
		nextInOtherBucket := !last && pts[i+1].Time.Sub(start)/bucket != p.Time.Sub(start)/bucket
		desiredChanges := !last && pts[i+1].Desired != p.Desired
		if i == 0 || last || nextInOtherBucket || desiredChanges {
			out = append(out, p)
		}
	}
	return out
}

// quantiles uses the nearest-rank method: p-quantile = the smallest sample
// with at least p of the samples at or below it.
func quantiles(v []float64) Quantiles {
	if len(v) == 0 {
		return Quantiles{}
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	var sum float64
	for _, x := range s {
		sum += x
	}
	return Quantiles{
		Count: len(s), P50: rank(s, 0.50), P95: rank(s, 0.95), P99: rank(s, 0.99),
		P999: rank(s, 0.999), Max: s[len(s)-1], Mean: sum / float64(len(s)),
	}
}

func rank(sorted []float64, p float64) float64 {
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// cdf returns up to n+1 points of the empirical CDF.
func cdf(v []float64, n int) []CDFPoint {
	out := []CDFPoint{}
	if len(v) == 0 {
		return out
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s) <= n {
		for i, x := range s {
			out = append(out, CDFPoint{Seconds: x, Fraction: float64(i+1) / float64(len(s))})
		}
		return out
	}
	for k := 0; k <= n; k++ {
		f := float64(k) / float64(n)
		out = append(out, CDFPoint{Seconds: rank(s, f), Fraction: f})
	}
	return out
}
