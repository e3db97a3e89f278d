package report

import (
	"math"

	"github.com/dstload/dstload/workload/scenario"
)

// Noise floors of the per-subscriber rows: a difference of a few KiB per
// subscriber is within what two runs of one controller differ by at CI
// scale (a GC cycle over 50 subscribers moves the two-point figure by
// tens of KiB; the floors only matter once the subscribers are many).
const (
	heapPerSubscriberFloor = 2 << 10
	rssPerSubscriberFloor  = 4 << 10
)

// subscriberHeadlines are compare's rows for what a subscriber costs: the
// per-subscriber figures (a sweep's fitted slope, else the load window's)
// and a sweep's intercept and R² (context).
func subscriberHeadlines() []headline {
	per := func(metric string) func(*Report) (float64, bool) {
		return func(r *Report) (float64, bool) {
			v, ok, _ := perSubscriber(r, metric)
			return v, ok
		}
	}
	fit := func(pick func(*Sweep) *Fit, f func(*Fit) float64) func(*Report) (float64, bool) {
		return func(r *Report) (float64, bool) {
			if r.Sweep == nil || pick(r.Sweep) == nil {
				return 0, false
			}
			return f(pick(r.Sweep)), true
		}
	}
	heap := func(s *Sweep) *Fit { return s.Heap }
	profile := func(r *Report) (float64, bool) {
		if r.Sweep != nil {
			if r.Sweep.Profile == nil {
				return 0, false
			}
			return r.Sweep.Profile.SlopeBytesPerSubscriber, true
		}
		if r.Subscribers == nil || r.Subscribers.Memory.ProfileBytesPerSubscriber == 0 {
			return 0, false
		}
		return r.Subscribers.Memory.ProfileBytesPerSubscriber, true
	}
	return []headline{
		{"heap per subscriber", scenario.UnitBytes, true, heapPerSubscriberFloor, per(scenario.HeapPerSubscriber)},
		{"rss per subscriber", scenario.UnitBytes, true, rssPerSubscriberFloor, per(scenario.MemoryPerSubscriber)},
		{"live heap per subscriber (pprof)", scenario.UnitBytes, true, heapPerSubscriberFloor, profile},
		{"sweep heap intercept a", scenario.UnitBytes, false, 0, fit(heap, func(f *Fit) float64 { return f.InterceptBytes })},
		{"sweep heap fit 1 - R²", scenario.UnitRatio, false, 0, fit(heap, func(f *Fit) float64 { return 1 - f.R2 })},
	}
}

// fitNoise is twice the combined standard error of both reports' fitted
// slopes for a per-subscriber row of two sweeps (0 otherwise): a slope
// difference within it is the fits' own uncertainty.
func fitNoise(name string, a, b *Report) float64 {
	pick := map[string]func(*Sweep) *Fit{
		"heap per subscriber":              func(s *Sweep) *Fit { return s.Heap },
		"rss per subscriber":               func(s *Sweep) *Fit { return s.RSS },
		"live heap per subscriber (pprof)": func(s *Sweep) *Fit { return s.Profile },
	}[name]
	if pick == nil || a.Sweep == nil || b.Sweep == nil {
		return 0
	}
	fa, fb := pick(a.Sweep), pick(b.Sweep)
	if fa == nil || fb == nil {
		return 0
	}
	return 2 * math.Hypot(fa.SlopeStdErrBytes, fb.SlopeStdErrBytes)
}
