package runner

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"

	"github.com/dstload/dstload/workload/dstmetrics"
	"github.com/dstload/dstload/workload/report"
)

// ComponentDown is a part of the environment found not running.
type ComponentDown struct {
	// Name is the component (kube-apiserver, etcd, ..., destination).
	Name   string
	Detail string
}

// DestinationComponent is the name Config.Components gives the destination
// controller: its failure is the measured system's, not the environment's.
const DestinationComponent = "destination"

// What a fault's report names as the fix. After the API server or etcd
// went, the run's cleanup could not be tried, so the targets are left.
const (
	repair        = "'dstload up' (restores every component with the same settings), then run again"
	repairCleanup = "'dstload up' (restores every component with the same settings), then 'dstload run --cleanup' and run again"
)

// How the run watches its environment. A dead process is certain at once;
// an API server that answers its readiness check with a failure (or
// refuses the connection) has to fail for apiGrace in a row. One that does
// not answer within probeTimeout is more often only slow: on a saturated
// 2-core machine a live API server left /readyz unanswered for 4 s in the
// middle of full-size runs, which then stopped for nothing. So a streak of
// unanswered probes fails only after apiSlowGrace (on the local provider a
// dead API server's process is caught at once by the process check).
const (
	faultInterval = time.Second
	probeTimeout  = 3 * time.Second
	apiGrace      = 4 * time.Second
	apiSlowGrace  = 30 * time.Second
)

// errFault is the cause of the load's context when a fault stopped it.
var errFault = errors.New("stopped by a fault in the environment")

// faultWatch notices, while a run goes on, that a part of its environment
// went away: a supervised process exited (Config.Components) or the
// cluster's API server stopped answering /readyz (an etcd it cannot reach
// included). It then stops the load (cancels its context) and keeps the
// fault for the report.
type faultWatch struct {
	r          *run
	cs         kubernetes.Interface
	components func() []ComponentDown
	cancel     context.CancelCauseFunc
	done       chan struct{}

	mu    sync.Mutex
	fault *report.Fault
	// apiSince is the first failed probe of the current failing streak;
	// noProbe is set when the API server refuses the probe itself.
	apiSince time.Time
	noProbe  bool
	// slowGrace is apiSlowGrace (shorter in tests).
	slowGrace time.Duration
}

// watchFaults starts watching; cancel stops the load on a fault.
func (r *run) watchFaults(ctx context.Context, cancel context.CancelCauseFunc) *faultWatch {
	w := &faultWatch{r: r, cs: r.cs, components: r.cfg.Components, cancel: cancel, done: make(chan struct{}), slowGrace: apiSlowGrace}
	if r.apiSlowGrace > 0 {
		w.slowGrace = r.apiSlowGrace
	}
	go func() {
		defer close(w.done)
		t := time.NewTicker(faultInterval)
		defer t.Stop()
		for {
			if f := w.check(ctx); f != nil {
				w.mu.Lock()
				w.fault = f
				w.mu.Unlock()
				r.progressf("%s failed since %s (%s): stopping the load; the report will say what was measured until now; repair: %s",
					f.Component, f.Since.UTC().Format("15:04:05 MST"), f.Detail, f.Repair)
				cancel(errFault)
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return w
}

// setSampler tells the fault watch where the destination's health is.
func (r *run) setSampler(s *dstmetrics.Sampler) {
	r.mu.Lock()
	r.sampler = s
	r.mu.Unlock()
}

// destinationHealth is the sampler's; without a sampler it says failing,
// so that the process check alone decides.
func (r *run) destinationHealth() (failing bool, since time.Time, lastErr string) {
	r.mu.Lock()
	s := r.sampler
	r.mu.Unlock()
	if s == nil {
		return true, time.Now(), ""
	}
	return s.Health()
}

// stop ends the watch and returns the fault it found (nil: none).
func (w *faultWatch) stop() *report.Fault {
	w.cancel(nil) // no-op when the load's context already ended
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.fault
}

// check returns a fault when one is certain now.
func (w *faultWatch) check(ctx context.Context) *report.Fault {
	now := time.Now()
	if w.components != nil {
		for _, d := range w.components() {
			f := &report.Fault{Component: d.Name, Since: now, Noticed: now, Detail: d.Detail, Repair: repair}
			if apiDown(f) {
				f.Repair = repairCleanup
			}
			if d.Name == DestinationComponent {
				// What the run measures: wait until its metrics say so too,
				// so that the report counts the crash and the failed scrapes.
				failing, since, _ := w.r.destinationHealth()
				if !failing {
					continue
				}
				f.UnderTest, f.Since = true, since
			}
			return f
		}
	}
	if w.noProbe {
		return nil
	}
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	body, err := w.cs.Discovery().RESTClient().Get().AbsPath("/readyz").Param("verbose", "1").
		MaxRetries(0).DoRaw(pctx) // a closed connection is an answer: no retry until the timeout
	if ctx.Err() != nil {
		return nil
	}
	if err == nil {
		w.apiSince = time.Time{}
		return nil
	}
	if apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) || apierrors.IsNotFound(err) {
		// An API server that answers, but not this probe (a cluster that
		// restricts /readyz): it says nothing about a fault, so stop asking.
		w.noProbe = true
		w.r.cfg.Log.Info("the API server refuses /readyz: the run cannot watch it for faults", "err", err)
		return nil
	}
	if w.apiSince.IsZero() {
		w.apiSince = now
	}
	failing := time.Since(w.apiSince)
	if failing < apiGrace || (unanswered(err) && failing < w.slowGrace) {
		return nil
	}
	component, detail := apiFault(body, err)
	if unanswered(err) {
		detail = fmt.Sprintf("/readyz unanswered for %s (the API server's process may be alive but saturated or hung): %s", w.slowGrace, trimErr(err))
	}
	return &report.Fault{Component: component, Since: w.apiSince, Noticed: time.Now(), Detail: detail, Repair: repairCleanup}
}

// unanswered is a probe that timed out, rather than one answered with a
// failure or refused. A 429 counts with them: an API server shedding load
// is busy, not failed (the probe does not retry after it).
func unanswered(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || apierrors.IsTimeout(err) || apierrors.IsTooManyRequests(err) ||
		(errors.As(err, &ne) && ne.Timeout())
}

// apiFault names the part behind a failed /readyz: etcd when the API
// server answers that its storage check fails, else the API server.
func apiFault(body []byte, err error) (component, detail string) {
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "[-]etcd") {
			return "etcd", "the API server cannot reach it: " + strings.TrimSpace(strings.TrimPrefix(line, "[-]"))
		}
	}
	return "kube-apiserver", fmt.Sprintf("/readyz failing for %s: %s", apiGrace, trimErr(err))
}

// trimErr keeps an error to one short line.
func trimErr(err error) string {
	s := strings.Join(strings.Fields(err.Error()), " ")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// apiDown reports whether a fault leaves the API server unusable (no
// cleanup can work then).
func apiDown(f *report.Fault) bool {
	return f != nil && (f.Component == "kube-apiserver" || f.Component == "etcd")
}
