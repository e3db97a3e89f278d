package scenario

import (
	"fmt"
	"math"
	"time"
)

// Overrides shrink (or grow) a scenario for the machine at hand.
type Overrides struct {
	// Scale multiplies services, endpoints (min, max, start), streams and
	// client processes; 0 or 1 leaves them. Each is rounded and kept >= 1
	// (min may stay 0); streams are then rounded to a multiple of
	// services x processes.
	Scale float64
	// Duration replaces churn.duration when > 0.
	Duration time.Duration
	// Cycles replaces churn.cycles when >= 0 (-1 = keep).
	Cycles int
	// HoldMax and HoldMin replace the holds when > 0.
	HoldMax, HoldMin time.Duration
	// Settle replaces settle when > 0.
	Settle time.Duration
	// Nodes replaces clients.nodes when > 0 (after Scale).
	Nodes int
}

// NoOverrides keeps a scenario as written.
func NoOverrides() Overrides { return Overrides{Cycles: -1} }

// Apply returns a copy of s with o applied, validated again.
func (s *Scenario) Apply(o Overrides) (*Scenario, error) {
	out := *s
	out.Criteria = append([]Criterion(nil), s.Criteria...)
	if s.Sweep != nil {
		sw := *s.Sweep
		sw.Steps = append([]int(nil), s.Sweep.Steps...)
		out.Sweep = &sw
	}
	if o.Scale < 0 || math.IsNaN(o.Scale) || math.IsInf(o.Scale, 0) {
		return nil, fmt.Errorf("scale %v: must be > 0", o.Scale)
	}
	if o.Scale > 0 && o.Scale != 1 {
		f := o.Scale
		atLeast1 := func(n int) int { return max(1, int(math.Round(float64(n)*f))) }
		out.Services.Count = atLeast1(s.Services.Count)
		out.Services.Endpoints = atLeast1(s.Services.Endpoints)
		// Streams scale by f too, rounded to what every client process can
		// open evenly on every service.
		streams := atLeast1(s.Clients.Streams)
		out.Clients.Processes = min(atLeast1(s.Clients.Processes), max(1, streams/out.Services.Count))
		per := out.Services.Count * out.Clients.Processes
		out.Clients.Streams = max(1, int(math.Round(float64(streams)/float64(per)))) * per
		if s.Clients.SampleStreams > 0 {
			out.Clients.SampleStreams = atLeast1(s.Clients.SampleStreams)
		}
		if s.Churn.Pattern == PatternOscillate {
			out.Churn.Min = int(math.Round(float64(s.Churn.Min) * f))
			out.Churn.Max = max(out.Churn.Min+1, int(math.Round(float64(s.Churn.Max)*f)))
			out.Services.Endpoints = min(max(out.Services.Endpoints, out.Churn.Min), out.Churn.Max)
		}
		out.scaleClientsAndSweep(s, f)
	}
	if o.Duration > 0 {
		out.Churn.Duration = o.Duration
	}
	if o.Cycles >= 0 {
		out.Churn.Cycles = o.Cycles
	}
	if o.HoldMax > 0 {
		out.Churn.HoldMax = o.HoldMax
	}
	if o.HoldMin > 0 {
		out.Churn.HoldMin = o.HoldMin
	}
	// Shorter holds than the jitter would make events overlap; shrink the
	// jitter with the holds rather than refuse a CI-sized run.
	if out.Churn.Pattern == PatternOscillate && (o.HoldMax > 0 || o.HoldMin > 0) {
		if lim := min(out.Churn.HoldMax, out.Churn.HoldMin) / 2; out.Churn.Jitter >= lim {
			out.Churn.Jitter = lim
		}
	}
	if o.Settle > 0 {
		out.Settle = o.Settle
	}
	if o.Nodes > 0 {
		out.Clients.Nodes = o.Nodes
	}
	if err := out.Validate(); err != nil {
		return nil, err
	}
	return &out, nil
}
