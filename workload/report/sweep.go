package report

import (
	"fmt"
	"math"
	"time"

	"github.com/dstload/dstload/workload/dstmetrics"
	"github.com/dstload/dstload/workload/scenario"
)

// Sweep is a subscriber sweep's result (scenario sweep): one row per step
// and memory = a + b x subscribers fitted over the steps.
type Sweep struct {
	Steps []SweepStep `json:"steps"`
	// Heap fits the heap against the controller's subscriber count: the
	// live heap (go_memstats_heap_alloc_bytes right after a forced GC)
	// when every step has it (HeapSource HeapAfterGC), else heap in use
	// (go_memstats_heap_inuse_bytes), window medians (HeapWindowMedian).
	// HeapWindow is always the window medians' fit, RSS
	// resident memory's, Profile the heap profiles' live heap (when every
	// step has one). Nil when there is no fit; FitError says why.
	Heap       *Fit   `json:"heap,omitempty"`
	HeapSource string `json:"heapSource,omitempty"`
	HeapWindow *Fit   `json:"heapWindow,omitempty"`
	RSS        *Fit   `json:"rss,omitempty"`
	Profile    *Fit   `json:"profile,omitempty"`
	FitError   string `json:"fitError,omitempty"`
	// Unsteady counts the steps whose memory was not steady by
	// sweep.maxHold; their figures are in the fit all the same.
	Unsteady int `json:"unsteady"`
}

// SweepStep is one step: the runner fills the times and what it asked
// for, Build the figures from the destination samples of its window.
type SweepStep struct {
	Streams   int `json:"streams"`
	Processes int `json:"processes"`
	// Started is when the step's clients were started, Held when every
	// stream held every endpoint, Ended when the step ended (steady, or
	// maxHold). The window is the steadiness window that ended it.
	Started    time.Time `json:"started"`
	Held       time.Time `json:"held"`
	Ended      time.Time `json:"ended"`
	WindowFrom time.Time `json:"windowFrom"`
	Steady     bool      `json:"steady"`
	WindowStats
	// ProfileInuseBytes is the live heap from a heap profile taken at the
	// step's end (0: the controller serves no pprof).
	ProfileInuseBytes float64 `json:"profileInuseBytes,omitempty"`
	// HeapAfterGCBytes is go_memstats_heap_alloc_bytes scraped right after
	// that profile's forced GC: the live heap (0: none).
	HeapAfterGCBytes float64 `json:"heapAfterGCBytes,omitempty"`
	// CPUSeconds is the controller's CPU from Started to Ended,
	// MessagesSent its gRPC messages sent then (the new streams'
	// snapshots), CPUPerMessageSeconds their ratio (0 without messages).
	CPUSeconds           float64 `json:"cpuSeconds"`
	MessagesSent         float64 `json:"messagesSent"`
	CPUPerMessageSeconds float64 `json:"cpuPerMessageSeconds"`
}

// WindowStats are medians of the destination samples in a window.
type WindowStats struct {
	Samples             int     `json:"samples"`
	Subscribers         float64 `json:"subscribers"`
	HeapInuseBytes      float64 `json:"heapInuseBytes"`
	ResidentMemoryBytes float64 `json:"residentMemoryBytes"`
	// HeapRangeBytes is max - min of the heap in use over the window.
	HeapRangeBytes float64 `json:"heapRangeBytes"`
}

// Window summarises the good samples in [from, to].
func Window(samples []dstmetrics.Sample, from, to time.Time) WindowStats {
	var subs, heap, rss []float64
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range samples {
		if !s.OK() || s.Time.Before(from) || s.Time.After(to) {
			continue
		}
		subs, heap, rss = append(subs, s.Subscribers), append(heap, s.HeapInuseBytes), append(rss, s.ResidentMemoryBytes)
		lo, hi = min(lo, s.HeapInuseBytes), max(hi, s.HeapInuseBytes)
	}
	w := WindowStats{Samples: len(subs)}
	if w.Samples > 0 {
		w.Subscribers, w.HeapInuseBytes, w.ResidentMemoryBytes, w.HeapRangeBytes = median(subs), median(heap), median(rss), hi-lo
	}
	return w
}

// Sweep.HeapSource values.
const (
	HeapAfterGC      = "live, after forced GC"
	HeapWindowMedian = "in use, window median"
)

// MinWindowSamples is how many samples a steadiness window needs.
const MinWindowSamples = 3

// Steady is the sweep's rule for a step's memory having settled: at least
// MinWindowSamples samples in the window, all counting the step's
// subscribers, and the heap in use ranging within
// scenario.SteadyTolerance of its median or scenario.SteadyFloorBytes,
// whichever is larger.
func (w WindowStats) Steady(streams int) bool {
	return w.Samples >= MinWindowSamples && w.Subscribers == float64(streams) &&
		w.HeapRangeBytes <= max(scenario.SteadyTolerance*w.HeapInuseBytes, scenario.SteadyFloorBytes)
}

// cpuAndMessages is the increase of CPU seconds and gRPC messages sent
// between the last good samples at or before from and to.
func cpuAndMessages(samples []dstmetrics.Sample, from, to time.Time) (cpu, msgs float64) {
	var a, b *dstmetrics.Sample
	for i := range samples {
		s := &samples[i]
		if !s.OK() {
			continue
		}
		if !s.Time.After(from) {
			a = s
		}
		if !s.Time.After(to) {
			b = s
		}
	}
	if a == nil || b == nil || b.StartTime != a.StartTime {
		return 0, 0
	}
	return b.CPUSeconds - a.CPUSeconds, b.GRPCMsgSent - a.GRPCMsgSent
}

func buildSweep(steps []SweepStep, samples []dstmetrics.Sample) *Sweep {
	sw := &Sweep{Steps: append([]SweepStep(nil), steps...)}
	var x, heap, rss, prof, afterGC []float64
	for i := range sw.Steps {
		st := &sw.Steps[i]
		st.WindowStats = Window(samples, st.WindowFrom, st.Ended)
		st.CPUSeconds, st.MessagesSent = cpuAndMessages(samples, st.Started, st.Ended)
		if st.MessagesSent > 0 {
			st.CPUPerMessageSeconds = st.CPUSeconds / st.MessagesSent
		}
		if !st.Steady {
			sw.Unsteady++
		}
		if st.Samples == 0 {
			continue
		}
		x, heap, rss = append(x, st.Subscribers), append(heap, st.HeapInuseBytes), append(rss, st.ResidentMemoryBytes)
		if st.ProfileInuseBytes > 0 {
			prof = append(prof, st.ProfileInuseBytes)
		}
		if st.HeapAfterGCBytes > 0 {
			afterGC = append(afterGC, st.HeapAfterGCBytes)
		}
	}
	h, err := FitLine(x, heap)
	if err != nil {
		sw.FitError = fmt.Sprintf("%v (%d of %d steps had destination samples)", err, len(x), len(sw.Steps))
		return sw
	}
	r, _ := FitLine(x, rss)
	sw.Heap, sw.HeapWindow, sw.RSS, sw.HeapSource = &h, &h, &r, HeapWindowMedian
	if len(afterGC) == len(x) {
		if g, err := FitLine(x, afterGC); err == nil {
			sw.Heap, sw.HeapSource = &g, HeapAfterGC
		}
	}
	if len(prof) == len(x) {
		if p, err := FitLine(x, prof); err == nil {
			sw.Profile = &p
		}
	}
	return sw
}

// fitText renders a fit as "b 12.3KiB ±0.4KiB per subscriber, a 40.1MiB, R² 0.998".
func fitText(f *Fit) string {
	if f == nil {
		return "no fit"
	}
	return fmt.Sprintf("%s ±%s per subscriber, a %s, R² %.3f", bytesOrNegative(f.SlopeBytesPerSubscriber),
		scenario.FormatValue(scenario.UnitBytes, f.SlopeStdErrBytes), bytesOrNegative(f.InterceptBytes), f.R2)
}

// sweepSummary is the summary's sweep lines.
func sweepSummary(sw *Sweep) string {
	if sw == nil {
		return ""
	}
	if sw.Heap == nil {
		return "  sweep: " + sw.FitError + "\n"
	}
	s := fmt.Sprintf("  sweep: %d steps (%d unsteady); heap (%s) %s; rss %s", len(sw.Steps), sw.Unsteady, sw.HeapSource, fitText(sw.Heap), fitText(sw.RSS))
	if sw.Profile != nil {
		s += "; live heap (pprof) " + fitText(sw.Profile)
	}
	return s + "\n"
}

// sweepMarkdown is report.md's sweep section.
func sweepMarkdown(p func(string, ...any), sw *Sweep) {
	if sw == nil {
		return
	}
	p("\n## Subscriber sweep\n\n")
	p("memory = a + b x subscribers, least squares over the steps (window medians, or the live heap right after a forced GC; steady: heap in use within %.0f%% or %s over the window).\n\n",
		100*scenario.SteadyTolerance, scenario.FormatValue(scenario.UnitBytes, scenario.SteadyFloorBytes))
	p("| | b (per subscriber) | ± | a | R² |\n|---|---|---|---|---|\n")
	for _, row := range []struct {
		name string
		f    *Fit
	}{{"heap (" + sw.HeapSource + ")", sw.Heap}, {"heap (" + HeapWindowMedian + ")", windowIfOther(sw)}, {"rss", sw.RSS}, {"live heap (pprof)", sw.Profile}} {
		if row.f == nil {
			continue
		}
		p("| %s | %s | %s | %s | %.4f |\n", row.name, bytesOrNegative(row.f.SlopeBytesPerSubscriber),
			scenario.FormatValue(scenario.UnitBytes, row.f.SlopeStdErrBytes), bytesOrNegative(row.f.InterceptBytes), row.f.R2)
	}
	if sw.FitError != "" {
		p("\nNo fit: %s\n", sw.FitError)
	}
	p("\n| streams | subscribers | held after | steady | samples | heap in use | heap range | live heap after GC | rss | live heap | cpu | messages | cpu/message |\n")
	p("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, st := range sw.Steps {
		p("| %d | %.0f | %s | %v | %d | %s | %s | %s | %s | %s | %.2fs | %.0f | %s |\n", st.Streams, st.Subscribers,
			st.Held.Sub(st.Started).Round(100*time.Millisecond), st.Steady, st.Samples, bytesText(st.HeapInuseBytes), bytesText(st.HeapRangeBytes),
			bytesText(st.HeapAfterGCBytes), bytesText(st.ResidentMemoryBytes), bytesText(st.ProfileInuseBytes), st.CPUSeconds, st.MessagesSent,
			scenario.FormatValue(scenario.UnitSeconds, st.CPUPerMessageSeconds))
	}
}

// windowIfOther is the window medians' fit when Heap is another one.
func windowIfOther(sw *Sweep) *Fit {
	if sw.HeapSource == HeapWindowMedian {
		return nil
	}
	return sw.HeapWindow
}
