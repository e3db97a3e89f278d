package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/dstload/dstload/workload/dstmetrics"
	"github.com/dstload/dstload/workload/record"
	"github.com/dstload/dstload/workload/report"
	"github.com/dstload/dstload/workload/scenario"
)

// start connects to cfg's cluster and fills the report's environment with
// its Kubernetes version; both Run and RunInCluster begin with it.
func start(cfg Config) (*run, *rest.Config, report.Environment, error) {
	env := cfg.Environment
	rc, err := restConfig(cfg.Kubeconfig, cfg.Context)
	if err != nil {
		return nil, nil, env, err
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, nil, env, fmt.Errorf("kubernetes client: %w", err)
	}
	v, err := cs.Discovery().ServerVersion()
	if err != nil {
		return nil, nil, env, fmt.Errorf("reach the cluster's API server: %w", err)
	}
	env.Versions.Kubernetes = v.GitVersion
	env.DestinationAddr = cfg.DestinationAddr
	return &run{cfg: cfg, cs: cs, started: time.Now()}, rc, env, nil
}

// backend is what differs between a run whose workload runs in this
// process (local provider) and one whose churn and clients are the chart's
// pods (k3d, kubeconfig). orchestrate drives either through the same
// phases, checks and fault handling.
type backend interface {
	// deploy installs the targets (and the workload) and waits until the
	// targets' endpoints are ready. cleanup is non-nil once something was
	// installed, also when the wait then failed.
	deploy(ctx context.Context) (cleanup func(context.Context) error, err error)
	// connect starts sampling the destination and opens the streams
	// (local: also the observer); orchestrate waits for them.
	connect(ctx context.Context) error
	// startChurn starts the churn once every stream holds every endpoint.
	startChurn(ctx context.Context) error
	// poll reads the run's progress now; it is called every pollEvery.
	poll(ctx context.Context) progress
	// status is the progress line's body, printed every ProgressEvery.
	status(ctx context.Context) string
	// finalTargets is each target's replica count once churn is done.
	finalTargets(ctx context.Context) (map[string]int, error)
	// collect ends the load and returns every record and destination
	// sample; after a fault it returns what it still has.
	collect(ctx context.Context) (record.Set, []dstmetrics.Sample, error)
	// close stops whatever still runs (observer, clients, sampler).
	close()
}

// progress is one poll of a run.
type progress struct {
	// held is the endpoints held over all streams; observed the ready
	// endpoints the observer sees (-1: unknown).
	held, observed int
	// events are the scale events written or failed so far; churnDone is
	// set once churn ended its pattern (or churn.duration).
	events    int
	churnDone bool
	// errors are the stream errors so far ("Unavailable 40"; "" none).
	errors string
}

// orchestrate runs one scenario through b: deploy, connect, churn (or
// hold), settle, collect, report, cleanup. A fault in the environment
// (faultWatch) stops the load wherever it is; what was measured is still
// reported, marked incomplete. A criteria failure is not an error: it is
// the report's verdict. An error means no report was written.
func orchestrate(ctx context.Context, r *run, env report.Environment, b backend) (res *Result, err error) {
	// Deferred in this order so that the load has stopped (clients,
	// observer) before the targets are removed.
	var cleanup func(context.Context) error
	defer func() { r.cleanup(ctx, cleanup, res, &err) }()
	defer b.close()
	lctx, stopLoad := context.WithCancelCause(ctx)
	defer stopLoad(nil)
	watch := r.watchFaults(lctx, stopLoad)

	r.enter("deploy")
	cleanup, err = b.deploy(lctx)
	if err == nil {
		err = r.connect(lctx, b)
	}
	if err == nil {
		err = r.load(lctx, b)
	}
	loadStart, loadEnd := r.loadStart, time.Now()
	if n := len(r.sweepSteps); n > 0 {
		// A sweep's load window is its last step: every stream open.
		loadStart, loadEnd = r.sweepSteps[n-1].Held, r.sweepSteps[n-1].Ended
	} else if err == nil {
		r.heapProfiles.LoadBytes, r.heapProfiles.LoadAfterGCBytes = r.runHeapProfile(lctx, "heap-load.pb.gz")
	}
	fault := watch.stop()
	r.fault = fault
	switch {
	case ctx.Err() != nil:
		return nil, context.Cause(ctx)
	case fault == nil && err != nil:
		return nil, err
	}
	r.enter("collect")
	cctx, cancel := context.WithTimeout(ctx, collectTimeout(fault))
	defer cancel()
	records, samples, err := b.collect(cctx)
	if err != nil {
		if fault == nil {
			return nil, err
		}
		r.progressf("collect after the fault: %v (the report has what could be collected)", trimErr(err))
	}
	if loadStart.IsZero() {
		loadStart = loadEnd
	}
	return r.finish(env, records, samples, loadStart, loadEnd, fault)
}

// collectTimeout bounds the collection: records in a cluster come through
// its API server, which after a fault may not answer at all.
func collectTimeout(f *report.Fault) time.Duration {
	if f != nil {
		return 20 * time.Second
	}
	return 5 * time.Minute
}

// connect opens the streams and waits until every stream holds every
// endpoint. A destination that only ever answers with errors (wrong
// address, not serving this cluster) fails the run early instead of after
// ReadyTimeout.
func (r *run) connect(ctx context.Context, b backend) error {
	cfg := r.cfg
	s := cfg.Scenario
	r.enter("connect")
	if err := b.connect(ctx); err != nil {
		return err
	}
	want := s.Clients.Streams * s.Services.Endpoints * cfg.endpointClusters()
	connectStart := time.Now()
	var hopeless string
	ok := r.waitProgress(ctx, cfg.ReadyTimeout, func() bool {
		p := b.poll(ctx)
		if p.held == want {
			return true
		}
		if time.Since(connectStart) > 30*time.Second && p.held == 0 && p.errors != "" {
			hopeless = p.errors
			return true
		}
		return false
	}, func() string { return b.status(ctx) })
	switch {
	case ctx.Err() != nil:
		return context.Cause(ctx)
	case hopeless != "":
		return fmt.Errorf("no stream received an endpoint from the destination controller at %s in 30s; stream errors: %s", cfg.DestinationAddr, hopeless)
	case !ok:
		return fmt.Errorf("streams did not receive the targets' endpoints within %s (%s); is the destination controller at %s serving this cluster?",
			cfg.ReadyTimeout, b.status(ctx), cfg.DestinationAddr)
	}
	return nil
}

// load runs the churn and waits for the last wave to converge (oscillate),
// or holds the load for churn.duration (stable).
func (r *run) load(ctx context.Context, b backend) error {
	s := r.cfg.Scenario
	if s.Churn.Pattern != scenario.PatternOscillate {
		r.enter("hold")
		if err := b.startChurn(ctx); err != nil {
			return err
		}
		r.loadStart = time.Now()
		if s.Sweep == nil { // a sweep held its steps while connecting
			r.waitProgress(ctx, s.Churn.Duration, func() bool { b.poll(ctx); return false }, func() string { return b.status(ctx) })
		}
		return context.Cause(ctx)
	}
	r.enter("churn")
	if err := b.startChurn(ctx); err != nil {
		return err
	}
	r.loadStart = time.Now()
	wantEvents := s.Events() * s.Services.Count * r.cfg.endpointClusters()
	var last progress
	r.waitProgress(ctx, 365*24*time.Hour, func() bool {
		last = b.poll(ctx)
		return last.churnDone
	}, func() string { return fmt.Sprintf("events %d/%d, %s", last.events, wantEvents, b.status(ctx)) })
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}

	r.enter("settle")
	// The last wave's hold usually covers convergence; settle waits for
	// the stragglers, ending as soon as everything converged.
	targets, err := b.finalTargets(ctx)
	if err != nil {
		return err
	}
	perSvc := s.Clients.Streams / s.Services.Count
	wantHeld, wantReady := 0, 0
	for _, n := range targets {
		wantHeld += n * perSvc
		wantReady += n
	}
	r.waitProgress(ctx, s.Settle, func() bool {
		p := b.poll(ctx)
		return p.held == wantHeld && p.observed == wantReady
	}, func() string { return b.status(ctx) })
	return context.Cause(ctx)
}

// cleanup removes what deploy installed (nil: nothing) unless --keep, on
// its own context so that it runs after Ctrl-C too. When a report was
// written its failure goes to res.Cleanup (a second line, never the
// reason the run ended); else it joins *err. After a fault that took the
// API server it is not tried: nothing could answer.
func (r *run) cleanup(ctx context.Context, cleanup func(context.Context) error, res *Result, err *error) {
	if cleanup == nil {
		return
	}
	var cerr error
	if apiDown(r.fault) {
		cerr = fmt.Errorf("cleanup: not tried, the cluster's API server is unreachable; the run's targets are left in namespace %s: after 'dstload up', 'dstload run --cleanup --namespace %s' removes them",
			r.cfg.Namespace, r.cfg.Namespace)
	} else {
		timeout := 2 * time.Minute
		if r.fault != nil {
			// A namespace cannot finish terminating without the controller
			// manager (or, with pods, kwok): do not wait long for it; it
			// finishes once `dstload up` restored them.
			timeout = 10 * time.Second
		}
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
		defer cancel()
		if cerr = cleanup(cctx); cerr != nil && r.fault != nil {
			cerr = fmt.Errorf("%w (after the fault; what is left goes once 'dstload up' restored the cluster, or with 'dstload run --cleanup')", cerr)
		}
	}
	if cerr == nil {
		return
	}
	if res != nil {
		res.Cleanup = cerr
		return
	}
	*err = errors.Join(*err, cerr)
}

// deployTargets installs tg and waits until its endpoints are ready; the
// cleanup it returns is non-nil once the install succeeded. what names tg
// in the --keep message.
func (r *run) deployTargets(ctx context.Context, cs kubernetes.Interface, tg *Targets, what string) (cleanup func(context.Context) error, err error) {
	if err := tg.Install(ctx, cs); err != nil {
		return nil, err
	}
	cleanup = func(cctx context.Context) error {
		if r.cfg.Keep {
			r.progressf("%s kept in namespace %s (--keep)", what, tg.Namespace)
			return nil
		}
		r.enter("cleanup")
		if err := tg.Uninstall(cctx, cs); err != nil {
			return fmt.Errorf("cleanup: %w", err)
		}
		return nil
	}
	r.enter("targets")
	rctx, cancel := context.WithTimeout(ctx, r.cfg.ReadyTimeout)
	defer cancel()
	lastTick := time.Now()
	err = tg.Ready(rctx, cs, func(ready, desired int) {
		if time.Since(lastTick) >= r.cfg.ProgressEvery {
			lastTick = time.Now()
			r.progressf("%d of %d endpoints ready", ready, desired)
		}
	})
	return cleanup, err
}

// finish is everything after the records are collected: build and judge the report, write it
// (and the raw records when asked).
func (r *run) finish(env report.Environment, records record.Set, samples []dstmetrics.Sample, loadStart, loadEnd time.Time, fault *report.Fault) (*Result, error) {
	cfg := r.cfg
	r.enter("report")
	in := report.Input{
		Scenario: cfg.Scenario, Overrides: cfg.Overrides, Tool: cfg.Tool, Environment: env,
		Started: r.started, Ended: time.Now(), LoadStart: loadStart, LoadEnd: loadEnd, Phases: r.endPhases(),
		Records: records, MetricsURL: cfg.MetricsURL, MetricsInterval: cfg.MetricsInterval, Destination: samples,
		HostCPUBusy: r.hostBusy(), Fault: fault, HeapProfiles: r.heapProfiles, SweepSteps: r.sweepSteps,
	}
	withControllerLog(&in, cfg.DestinationLog, in.Started, in.Ended)
	rep := report.Build(in)
	if m := cfg.Monitoring; m != nil {
		rep.Monitoring = report.NewMonitoring(m.URL, m.GraphPage, in.Started, in.Ended)
	}
	files, err := report.Write(cfg.OutDir, rep, cfg.PlotFormat)
	if err != nil {
		return nil, err
	}
	if cfg.SaveRecords {
		if err := saveRecords(filepath.Join(cfg.OutDir, RecordsFile), records); err != nil {
			return nil, err
		}
	}
	return &Result{Report: rep, Files: files}, nil
}

// lastTargets is the endpoints each target's streams hold after the churn:
// its last event's Want (a federated run's union), or the start size.
func lastTargets(set record.Set, tg *Targets, start int) map[string]int {
	out := map[string]int{}
	var seq = map[string]uint64{}
	for _, n := range tg.Names() {
		out[tg.Namespace+"/"+n] = start
	}
	for _, e := range set.ScaleEvents {
		if e.Seq >= seq[e.Service] {
			seq[e.Service] = e.Seq
			out[e.Service] = e.Want()
		}
	}
	return out
}

// Cleanup removes what a run (kept with --keep) installed in namespace.
func Cleanup(ctx context.Context, kubeconfig, kubeContext, namespace, release string, log *slog.Logger) error {
	rc, err := restConfig(kubeconfig, kubeContext)
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return fmt.Errorf("kubernetes client: %w", err)
	}
	tg := &Targets{Kubeconfig: kubeconfig, Context: kubeContext, Namespace: namespace, Release: release, Log: log}
	return errors.Join(tg.Uninstall(ctx, cs), removeClientNodes(ctx, cs, namespace))
}

// RecordsFile is the raw records' file name (Config.SaveRecords).
const RecordsFile = record.FileName

func saveRecords(path string, set record.Set) error { return record.WriteFile(path, set, 0o644) }
