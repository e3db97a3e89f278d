package runner

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/dstload/dstload/workload/client"
	"github.com/dstload/dstload/workload/dstmetrics"
	"github.com/dstload/dstload/workload/report"
)

// sweep runs a scenario's sweep (scenario.Sweep): step by step it starts
// client processes until the step's streams are open, waits until every
// stream holds every endpoint, holds the step sweep.hold, and ends it once
// the controller's memory is steady over sweep.window (report's
// WindowStats.Steady) or at sweep.maxHold. A heap profile closes each step
// when the controller serves pprof. start runs the clients it is given.
func (r *run) sweep(ctx context.Context, cl *clients, start func([]*client.Client), sampler *dstmetrics.Sampler, status func() string) ([]report.SweepStep, error) {
	s := r.cfg.Scenario
	sw := s.Sweep
	if sampler == nil {
		return nil, errors.New("a sweep measures the destination controller's memory: give its metrics (--destination-metrics, or a destination that `dstload up` recorded)")
	}
	profiles := true
	running := 0
	var steps []report.SweepStep
	for k, streams := range sw.Steps {
		procs := s.StepProcesses(k)
		r.enter(fmt.Sprintf("sweep step %d/%d", k+1, len(sw.Steps)))
		r.progressf("%d streams (%d client processes)", streams, procs)
		st := report.SweepStep{Streams: streams, Processes: procs, Started: time.Now().UTC()}
		start(cl.list[running:procs])
		running = procs
		want := streams * s.Services.Endpoints
		if !r.waitProgress(ctx, r.cfg.ReadyTimeout, func() bool { return cl.endpointsHeld() == want }, status) {
			if ctx.Err() != nil {
				return nil, context.Cause(ctx)
			}
			return nil, fmt.Errorf("sweep step %d: %d streams did not hold the targets' endpoints within %s (%s)", k+1, streams, r.cfg.ReadyTimeout, status())
		}
		held := time.Now()
		st.Held = held.UTC()
		// Hold, then wait for steady memory; the window always ends now.
		steady := func() bool {
			now := time.Now()
			if now.Sub(held) < sw.Hold {
				return false
			}
			return report.Window(sampler.Samples(), now.Add(-sw.Window), now).Steady(streams)
		}
		st.Steady = r.waitProgress(ctx, sw.MaxHold, steady, status)
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		end := time.Now()
		st.Ended, st.WindowFrom = end.UTC(), end.Add(-sw.Window).UTC()
		if !st.Steady {
			r.progressf("memory not steady after %s; the step's figures are kept and marked unsteady", sw.MaxHold)
		}
		if profiles {
			hp, err := r.heapProfile(ctx, fmt.Sprintf("heap-step%d.pb.gz", k+1))
			switch {
			case errors.Is(err, dstmetrics.ErrNoPprof):
				profiles = false
				r.progressf("%v: no heap profiles", err)
			case err != nil:
				return nil, err
			default:
				st.ProfileInuseBytes = hp.InuseBytes
				st.HeapAfterGCBytes = r.heapAfterGC(ctx)
			}
		}
		steps = append(steps, st)
	}
	return steps, nil
}

// heapProfile takes a heap profile of the controller (after a forced GC)
// and saves it as name in the run's output directory.
func (r *run) heapProfile(ctx context.Context, name string) (dstmetrics.HeapProfile, error) {
	if r.cfg.MetricsURL == "" {
		return dstmetrics.HeapProfile{}, dstmetrics.ErrNoPprof
	}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	hp, err := dstmetrics.FetchHeapProfile(pctx, &http.Client{}, r.cfg.MetricsURL)
	if err != nil {
		return hp, err
	}
	if err := os.WriteFile(filepath.Join(r.cfg.OutDir, name), hp.Raw, 0o644); err != nil {
		return hp, fmt.Errorf("save heap profile: %w", err)
	}
	return hp, nil
}

// heapAfterGC scrapes the controller right after a heap profile forced a
// GC (runtime.GC returns once the sweep is done): its heap allocated bytes
// are then the live heap, without the profile's sampling error, the GC
// cycle's sawtooth or the fragmentation heap in use carries. 0 when the
// scrape fails.
func (r *run) heapAfterGC(ctx context.Context) float64 {
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s, err := dstmetrics.Scrape(sctx, &http.Client{}, r.cfg.MetricsURL)
	if err != nil {
		r.cfg.Log.Info("no heap figure after the forced GC", "err", err)
		return 0
	}
	return s.HeapAllocBytes
}

// runHeapProfile is heapProfile where a profile is a bonus: a controller
// without pprof, or a failed fetch, gives none (logged) rather than failing
// the run. It returns the profile's live heap and the heap in use right
// after its forced GC (0, 0: none).
func (r *run) runHeapProfile(ctx context.Context, name string) (profile, afterGC float64) {
	hp, err := r.heapProfile(ctx, name)
	if err != nil {
		r.cfg.Log.Info("no heap profile", "file", name, "err", err)
		return 0, 0
	}
	return hp.InuseBytes, r.heapAfterGC(ctx)
}
