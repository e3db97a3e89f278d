package report

import (
	"fmt"
	"strings"

	"github.com/dstload/dstload/workload/record"
	"github.com/dstload/dstload/workload/scenario"
)

// The instrument's bounds (docs/latency.md). Update latency and fanout
// completion are measured from the observer's timestamps: an observer that
// sees a change late makes them too small, by at most how late it was.
// That error bound comes from the observer's canary where it runs (local
// provider); elsewhere the most negative update latency is the only
// evidence of it.
const (
	// ErrorAim is the error bound dstload aims for; above it the report
	// calls the instrument unreliable (its verdicts still use the bound).
	ErrorAim = 0.050 // seconds
	// SkewBound: update latencies below -SkewBound are counted apart.
	SkewBound = 0.005 // seconds
	// CPUBudget is the share of the destination controller's CPU that
	// dstload aims to stay under (reported, not judged).
	CPUBudget = 0.5
)

// Instrument says how far the run's own measurement can be trusted.
type Instrument struct {
	// ErrorBoundSeconds is how much too small an update latency or a
	// fanout completion can be; ErrorBoundSource says where it comes from:
	// "observer canary" (the largest watch delay measured), "an Add ahead
	// of the observer" (AddLeadSeconds, when larger than the canary's) or
	// "negative update latencies" (no canary: the most negative one).
	ErrorBoundSeconds float64 `json:"errorBoundSeconds"`
	ErrorBoundSource  string  `json:"errorBoundSource"`
	// Reliable is ErrorBoundSeconds <= ErrorAim; Reasons say why not.
	// Criteria use the bound either way: a result that the bound could
	// move across its threshold is inconclusive.
	Reliable bool     `json:"reliable"`
	Reasons  []string `json:"reasons,omitempty"`

	UpdateSamples int `json:"updateSamples"`
	// NegativeShare: samples < 0; BeyondSkewShare: samples < -SkewBound.
	NegativeShare           float64 `json:"negativeShare"`
	BeyondSkewShare         float64 `json:"beyondSkewShare"`
	MinUpdateLatencySeconds float64 `json:"minUpdateLatencySeconds"`
	// AddLeadSeconds is how long before the observer saw a slice list an
	// endpoint some stream already had its Add (0: never). The controller
	// adds only what a slice lists, so a lead is the observer's own delay
	// at that moment, one the canary's samples may have missed: the error
	// bound is never smaller.
	AddLeadSeconds float64 `json:"addLeadSeconds,omitempty"`
	// Watch delays of the observer's canary: how long after the API
	// server answered a write the observer's watch delivered it.
	WatchDelays          int     `json:"watchDelays"`
	WatchDelayP99Seconds float64 `json:"watchDelayP99Seconds"`
	WatchDelayMaxSeconds float64 `json:"watchDelayMaxSeconds"`
	// AheadOfSlicesShare: update latencies more negative than the error
	// bound. The observer saw those changes within the bound of their
	// commit, so the streams got them before the EndpointSlices said so:
	// the controller's doing, not the instrument's (canary only).
	AheadOfSlicesShare float64  `json:"aheadOfSlicesShare"`
	Notes              []string `json:"notes,omitempty"`
	// ObserverSource is what the observer followed: "etcd" (local
	// provider: the store, ahead of every API watcher) or "api" (the API
	// server's watch).
	ObserverSource string `json:"observerSource,omitempty"`
	// RemovalsFromPod counts the update latencies of Removes that came
	// after the endpoint's pod was deleted but before its slice changed,
	// timed from the deletion (etcd source only).
	RemovalsFromPod int `json:"removalsFromPod,omitempty"`
	// APIDelivery* (etcd source only): how long after the API server
	// answered a canary write its watch delivered it. Update latencies
	// measured from etcd include this delay of the API server's, which
	// the destination controller's watch pays too.
	APIDeliveries         int     `json:"apiDeliveries,omitempty"`
	APIDeliveryP50Seconds float64 `json:"apiDeliveryP50Seconds,omitempty"`
	APIDeliveryP99Seconds float64 `json:"apiDeliveryP99Seconds,omitempty"`
	APIDeliveryMaxSeconds float64 `json:"apiDeliveryMaxSeconds,omitempty"`

	// Processes are dstload's own measuring processes: CPU seconds and how
	// late a 50 ms timer fired in each (a starved process takes its
	// timestamps late).
	Processes []record.ProcessStat `json:"processes"`
	// DstloadCPUSeconds sums Processes; DestinationCPUSeconds is the
	// controller's over the sampled window; CPURatio dstload/destination
	// (0 when either is unknown).
	DstloadCPUSeconds     float64 `json:"dstloadCPUSeconds"`
	DestinationCPUSeconds float64 `json:"destinationCPUSeconds"`
	CPURatio              float64 `json:"cpuRatio"`
	// HostCPUBusy is the host's CPU busy share over the load window (0:
	// not measured): near 1 the cluster, the controller and dstload
	// competed for the machine, and slow convergence may be the machine's.
	HostCPUBusy float64 `json:"hostCPUBusy,omitempty"`
}

// instrument derives the error bound from the observer's canary (or the
// update latencies, in seconds) and adds the processes' own figures.
func instrument(upd []float64, addLead float64, procs []record.ProcessStat, dstCPU float64) Instrument {
	in := Instrument{UpdateSamples: len(upd), Processes: procs, DestinationCPUSeconds: dstCPU, AddLeadSeconds: max(0, addLead)}
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
	// A run observing two clusters (federated) has two observers: the
	// bound is the later one's.
	var canary *record.ProcessStat
	for i := range procs {
		if procs[i].WatchDelays > 0 && (canary == nil || procs[i].WatchDelayMax > canary.WatchDelayMax) {
			canary = &procs[i]
		}
		if procs[i].Source != "" {
			in.ObserverSource = procs[i].Source
		}
		if p := procs[i]; p.APIDelays > 0 && p.APIDelayMax >= in.APIDeliveryMaxSeconds {
			in.APIDeliveries, in.APIDeliveryP50Seconds, in.APIDeliveryP99Seconds, in.APIDeliveryMaxSeconds = p.APIDelays, p.APIDelayP50, p.APIDelayP99, p.APIDelayMax
		}
	}
	switch {
	case canary != nil:
		in.WatchDelays, in.WatchDelayP99Seconds, in.WatchDelayMaxSeconds = canary.WatchDelays, canary.WatchDelayP99, canary.WatchDelayMax
		in.ErrorBoundSeconds, in.ErrorBoundSource = canary.WatchDelayMax, "observer canary"
		if in.AddLeadSeconds > in.ErrorBoundSeconds {
			in.ErrorBoundSeconds, in.ErrorBoundSource = in.AddLeadSeconds, "an Add ahead of the observer"
		}
		ahead := 0
		for _, v := range upd {
			if v < -max(SkewBound, in.ErrorBoundSeconds) {
				ahead++
			}
		}
		if len(upd) > 0 {
			in.AheadOfSlicesShare = float64(ahead) / float64(len(upd))
		}
		if ahead > 0 {
			in.Notes = append(in.Notes, fmt.Sprintf("%.1f%% of update latencies are below -%s, beyond the observer's largest watch delay: the controller sent those changes before the EndpointSlices showed them (removals: pods already deleted; docs/latency.md)",
				100*in.AheadOfSlicesShare, secs(max(SkewBound, in.ErrorBoundSeconds))))
		}
	case len(upd) > 0:
		in.ErrorBoundSeconds, in.ErrorBoundSource = max(0, -in.MinUpdateLatencySeconds), "negative update latencies"
	default:
		in.ErrorBoundSource = "none"
	}
	in.Reliable = in.ErrorBoundSeconds <= ErrorAim
	if !in.Reliable {
		in.Reasons = append(in.Reasons, fmt.Sprintf("the observer may have seen changes up to %s late (%s; aim %s)",
			secs(in.ErrorBoundSeconds), in.ErrorBoundSource, secs(ErrorAim)))
	}
	for _, p := range procs {
		in.DstloadCPUSeconds += p.CPUSeconds
	}
	if in.DstloadCPUSeconds > 0 && dstCPU > 0 {
		in.CPURatio = in.DstloadCPUSeconds / dstCPU
	}
	return in
}

// withinError judges an observer-based value v against its bounds given
// that the true value lies in [v, v+e]: pass or fail when the whole range
// agrees, inconclusive otherwise.
func withinError(u scenario.Unit, v, e float64, lo, hi *float64) (verdict, reason string) {
	low, high := within(u, v, lo, hi), within(u, v+e, lo, hi)
	switch {
	case low && high:
		return Pass, ""
	case !low && !high || hi != nil && !low:
		// Above a maximum already: the observer's lateness only hides more.
		return Fail, ""
	}
	return Inconclusive, fmt.Sprintf("the observer may have seen changes up to %s late, so the value may be up to %s",
		secs(e), scenario.FormatValue(u, v+e))
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
	parts := []string{fmt.Sprintf("error bound %s (%s)", secs(in.ErrorBoundSeconds), in.ErrorBoundSource)}
	if !in.Reliable {
		parts[0] += fmt.Sprintf(", above the %s aim", secs(ErrorAim))
	}
	if in.WatchDelays > 0 {
		parts = append(parts, fmt.Sprintf("observer watch delay p99 %s max %s", secs(in.WatchDelayP99Seconds), secs(in.WatchDelayMaxSeconds)))
	}
	if in.UpdateSamples > 0 {
		parts = append(parts, fmt.Sprintf("%.1f%% of update latencies < 0, min %s", 100*in.NegativeShare, secs(in.MinUpdateLatencySeconds)))
	}
	if in.AddLeadSeconds > 0 {
		parts = append(parts, fmt.Sprintf("an Add %s before the observer saw its slice", secs(in.AddLeadSeconds)))
	}
	for _, p := range in.Processes {
		parts = append(parts, fmt.Sprintf("%s cpu %.1fs, timer late p99 %s", p.Process, p.CPUSeconds, secs(p.TickLatenessP99)))
	}
	if in.CPURatio > 0 {
		parts = append(parts, fmt.Sprintf("dstload cpu %.1fs = %.2fx the destination's %.1fs", in.DstloadCPUSeconds, in.CPURatio, in.DestinationCPUSeconds))
	}
	parts = append(parts, in.Notes...)
	return strings.Join(parts, "; ")
}
