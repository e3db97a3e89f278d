package runner

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/dstload/dstload/workload/dstmetrics"
	"github.com/dstload/dstload/workload/procstat"
	"github.com/dstload/dstload/workload/scenario"
)

// hostBusy is the host's CPU busy share over the load window (0 when not
// measured).
func (r *run) hostBusy() float64 {
	if !r.hostOK {
		return 0
	}
	return r.hostLoadEnd.BusySince(r.hostLoadStart)
}

// status is the progress line's body.
func (r *run) status(ctx context.Context, cl *clients, obs observers, sampler *dstmetrics.Sampler) string {
	opened, streams, errs := cl.stats()
	s := fmt.Sprintf("streams %d/%d up, %d errors (%s), endpoints held %d, observed ready %.0f",
		opened, streams, errs, r.live.deltas(cl), cl.endpointsHeld(), obs.readyEndpoints(ctx))
	// Stale and missing endpoints as they appear, each on a line of its own.
	for _, w := range r.live.wrongEndpoints(ctx, cl, obs) {
		r.progressf("%s", w)
	}
	if n := obs.kubeMissed(ctx); n > 0 {
		s += fmt.Sprintf(", %d events cluster-limited", n)
		if !r.warnedClusterLimited {
			r.warnedClusterLimited = true
			r.progressf("the cluster did not reach a target before the service's next event (cluster-limited): it cannot follow this churn at this size; " +
				"those events are not held against the controller, and if they are many the fanout verdicts are inconclusive (longer --hold, a smaller --scale, or a bigger machine)")
		}
	}
	if r.hostOK {
		// Both as a share of the whole machine, so they compare.
		if h, ok := procstat.ReadHostCPU(); ok {
			s += fmt.Sprintf(", host cpu %.0f%%", 100*h.BusySince(r.hostLast))
			r.hostLast = h
		}
		now, cpu := time.Now(), procstat.CPUSeconds()
		if wall := now.Sub(r.selfLast).Seconds(); wall > 0 {
			s += fmt.Sprintf(" (dstload's clients %.0f%%)", 100*(cpu-r.selfCPULast)/wall/float64(runtime.NumCPU()))
		}
		r.selfCPULast, r.selfLast = cpu, now
	}
	return s + destinationStatus(sampler)
}

// destinationStatus is the progress line's end, on every backend: the
// destination's latest figures, or since when its metrics stopped
// answering (a dead controller is said so, not shown with its last
// figures). "" when it is not sampled.
func destinationStatus(sampler *dstmetrics.Sampler) string {
	if sampler == nil {
		return ""
	}
	if failing, since, _ := sampler.Health(); failing {
		return fmt.Sprintf(", destination metrics unreachable since %s ago", time.Since(since).Round(time.Second))
	}
	if l, ok := sampler.Latest(); ok {
		return fmt.Sprintf(", destination rss %s heap %s subscribers %.0f", scenario.FormatValue(scenario.UnitBytes, l.ResidentMemoryBytes),
			scenario.FormatValue(scenario.UnitBytes, l.HeapInuseBytes), l.Subscribers)
	}
	return ""
}

// pollEvery is how often waitProgress checks its condition. Each check
// asks the observer over HTTP; at 200 ms its HTTP serving (these and
// Prometheus' scrapes) was a seventh of an idle observer's CPU profile,
// and half a second is still prompt enough for a wait that ends a phase.
const pollEvery = 500 * time.Millisecond

// waitProgress waits for cond (true) or timeout (false), printing status
// every ProgressEvery and checking cond every pollEvery.
func (r *run) waitProgress(ctx context.Context, timeout time.Duration, cond func() bool, status func() string) bool {
	deadline := time.Now().Add(timeout)
	next := time.Now().Add(r.cfg.ProgressEvery)
	for !cond() {
		now := time.Now()
		if now.After(deadline) {
			r.progressf("%s", status())
			return false
		}
		if now.After(next) {
			r.progressf("%s", status())
			next = now.Add(r.cfg.ProgressEvery)
		}
		select {
		case <-ctx.Done():
			if errors.Is(context.Cause(ctx), errFault) {
				r.progressf("%s", status()) // what the fault left
			}
			return false
		case <-time.After(pollEvery):
		}
	}
	r.progressf("%s", status())
	return true
}

// waitChan waits for done, printing status every ProgressEvery.
func (r *run) waitChan(ctx context.Context, done <-chan error, status func() string) error {
	t := time.NewTicker(r.cfg.ProgressEvery)
	defer t.Stop()
	for {
		select {
		case err := <-done:
			r.progressf("%s", status())
			return err
		case <-ctx.Done():
			return <-done
		case <-t.C:
			r.progressf("%s", status())
		}
	}
}
