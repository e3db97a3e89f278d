package report

import (
	"fmt"
	"strings"

	"github.com/dstload/dstload/workload/record"
	"github.com/dstload/dstload/workload/scenario"
)

// The instrument's bounds (docs/latency.md). An update latency below zero
// means a stream received a change before the observer recorded it: the
// observer, the reference clock, was late by at least that much, and every
// latency measured against it may be too small by as much. Small negative
// values are expected (the observer and the controller are two watchers
// of one API server); beyond these bounds the latency verdicts are not
// trusted.
const (
	// SkewBound is the skew tolerated in any one sample.
	SkewBound = 0.005 // seconds
	// MaxShareBeyondSkew is the share of samples allowed below -SkewBound.
	MaxShareBeyondSkew = 0.01
	// HardSkewBound: no sample may be below -HardSkewBound.
	HardSkewBound = 0.020 // seconds
	// WatchLagBound bounds the observer canary's watch delay (p99): how
	// long after the API server answered a write the observer's watch
	// delivered it. Beyond it the observer may see changes late.
	WatchLagBound = 0.050 // seconds
	// CPUBudget is the share of the destination controller's CPU that
	// dstload aims to stay under (reported, not judged).
	CPUBudget = 0.5
)

// Instrument says how far the run's own measurement can be trusted.
type Instrument struct {
	// Reliable is false when the observer's skew exceeds the bounds; the
	// latency criteria it could have changed are then inconclusive.
	Reliable bool     `json:"reliable"`
	Reasons  []string `json:"reasons,omitempty"`

	UpdateSamples int `json:"updateSamples"`
	// NegativeShare: samples < 0; BeyondSkewShare: samples < -SkewBound.
	NegativeShare           float64 `json:"negativeShare"`
	BeyondSkewShare         float64 `json:"beyondSkewShare"`
	MinUpdateLatencySeconds float64 `json:"minUpdateLatencySeconds"`
	SkewBoundSeconds        float64 `json:"skewBoundSeconds"`
	HardSkewBoundSeconds    float64 `json:"hardSkewBoundSeconds"`
	// WatchDelayP99Seconds is the observer canary's watch delay (0
	// when not measured, e.g. in-cluster). When it is measured and within
	// WatchLagBound, the observer saw every change within that time of
	// its commit, so an update latency more negative than it is the
	// controller's doing: it removed or added the endpoint before the
	// EndpointSlices said so (AheadOfSlicesShare), not the instrument's
	// error.
	WatchDelayP99Seconds float64  `json:"watchDelayP99Seconds"`
	WatchDelayMaxSeconds float64  `json:"watchDelayMaxSeconds"`
	AheadOfSlicesShare       float64  `json:"aheadOfSlicesShare"`
	Notes                    []string `json:"notes,omitempty"`

	// Processes are dstload's own measuring processes: CPU seconds and how
	// late a 10 ms timer fired in each (the observer's is how late its
	// timestamps can be; the clients' how late their receipts can be).
	Processes []record.ProcessStat `json:"processes"`
	// DstloadCPUSeconds sums Processes; DestinationCPUSeconds is the
	// controller's over the sampled window; CPURatio dstload/destination
	// (0 when either is unknown).
	DstloadCPUSeconds     float64 `json:"dstloadCPUSeconds"`
	DestinationCPUSeconds float64 `json:"destinationCPUSeconds"`
	CPURatio              float64 `json:"cpuRatio"`
}

// instrument judges the observer's skew from the update latencies (in
// seconds) and adds the processes' own figures.
func instrument(upd []float64, procs []record.ProcessStat, dstCPU float64) Instrument {
	in := Instrument{Reliable: true, UpdateSamples: len(upd), SkewBoundSeconds: SkewBound, HardSkewBoundSeconds: HardSkewBound,
		Processes: procs, DestinationCPUSeconds: dstCPU}
	if in.Processes == nil {
		in.Processes = []record.ProcessStat{}
	}
	neg, beyond := 0, 0
	for i, v := range upd {
		if i == 0 || v < in.MinUpdateLatencySeconds {
			in.MinUpdateLatencySeconds = v
		}
		if v < 0 {
			neg++
		}
		if v < -SkewBound {
			beyond++
		}
	}
	if n := len(upd); n > 0 {
		in.NegativeShare = float64(neg) / float64(n)
		in.BeyondSkewShare = float64(beyond) / float64(n)
	}
	var canary *record.ProcessStat
	for i := range procs {
		if procs[i].WatchDelays > 0 {
			canary = &procs[i]
		}
	}
	if canary != nil {
		// The observer's lag is measured: judge it, and read negative
		// latencies beyond it as the controller's.
		in.WatchDelayP99Seconds, in.WatchDelayMaxSeconds = canary.WatchDelayP99, canary.WatchDelayMax
		if canary.WatchDelayP99 > WatchLagBound {
			in.Reliable = false
			in.Reasons = append(in.Reasons, fmt.Sprintf("the observer's watch delay p99 is %s (bound %s): it may have seen changes late",
				secs(canary.WatchDelayP99), secs(WatchLagBound)))
		}
		ahead := 0
		for _, v := range upd {
			if v < -max(SkewBound, canary.WatchDelayMax) {
				ahead++
			}
		}
		if len(upd) > 0 {
			in.AheadOfSlicesShare = float64(ahead) / float64(len(upd))
		}
		if ahead > 0 {
			in.Notes = append(in.Notes, fmt.Sprintf("%.1f%% of update latencies are below -%s, more than the observer's slowest watch delay: the controller sent those changes before the EndpointSlices showed them (for removals: pods already deleted, see docs/latency.md)",
				100*in.AheadOfSlicesShare, secs(max(SkewBound, canary.WatchDelayMax))))
		}
	} else {
		// No measure of the observer's lag: negative latencies are
		// all the evidence there is.
		if in.BeyondSkewShare > MaxShareBeyondSkew {
			in.Reliable = false
			in.Reasons = append(in.Reasons, fmt.Sprintf("%.1f%% of update latencies are below -%s (bound %.0f%%): the observer may have seen those changes late",
				100*in.BeyondSkewShare, secs(SkewBound), 100*MaxShareBeyondSkew))
		}
		if len(upd) > 0 && in.MinUpdateLatencySeconds < -HardSkewBound {
			in.Reliable = false
			in.Reasons = append(in.Reasons, fmt.Sprintf("the smallest update latency is %s (bound -%s)", secs(in.MinUpdateLatencySeconds), secs(HardSkewBound)))
		}
	}
	for _, p := range procs {
		in.DstloadCPUSeconds += p.CPUSeconds
	}
	if in.DstloadCPUSeconds > 0 && dstCPU > 0 {
		in.CPURatio = in.DstloadCPUSeconds / dstCPU
	}
	return in
}

// observerBased are the metrics measured from the observer's timestamps:
// an observer that is late makes them too small.
func observerBased(metric string) bool {
	switch metric {
	case scenario.UpdateLatencyP50, scenario.UpdateLatencyP95, scenario.UpdateLatencyP99,
		scenario.UpdateLatencyP999, scenario.UpdateLatencyMax, scenario.FanoutCompletionMax:
		return true
	}
	return false
}

// instrumentText is the one-line instrument summary.
func instrumentText(in Instrument) string {
	var parts []string
	if in.UpdateSamples > 0 {
		parts = append(parts, fmt.Sprintf("skew: %.2f%% of update latencies < 0, %.2f%% < -%s, min %s",
			100*in.NegativeShare, 100*in.BeyondSkewShare, secs(SkewBound), secs(in.MinUpdateLatencySeconds)))
	}
	for _, p := range in.Processes {
		parts = append(parts, fmt.Sprintf("%s cpu %.1fs, timer late p99 %s max %s", p.Process, p.CPUSeconds, secs(p.TickLatenessP99), secs(p.TickLatenessMax)))
	}
	if in.WatchDelayP99Seconds > 0 {
		parts = append(parts, fmt.Sprintf("observer watch delay p99 %s max %s", secs(in.WatchDelayP99Seconds), secs(in.WatchDelayMaxSeconds)))
	}
	if in.CPURatio > 0 {
		parts = append(parts, fmt.Sprintf("dstload cpu %.1fs = %.2fx the destination's %.1fs", in.DstloadCPUSeconds, in.CPURatio, in.DestinationCPUSeconds))
	}
	parts = append(parts, in.Notes...)
	s := strings.Join(parts, "; ")
	if !in.Reliable {
		s = "UNRELIABLE: " + strings.Join(in.Reasons, "; ") + "; " + s
	}
	return s
}
