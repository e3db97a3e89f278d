package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/dstload/dstload/workload/admin"
	"github.com/dstload/dstload/workload/churn"
	"github.com/dstload/dstload/workload/client"
	"github.com/dstload/dstload/workload/dstmetrics"
	"github.com/dstload/dstload/workload/eventfeed"
	"github.com/dstload/dstload/workload/procstat"
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

// deploy installs tg and waits until its endpoints are ready. The cleanup
// it returns is non-nil once the install succeeded (also when the wait then
// failed): it removes tg unless --keep, with its own context so that it
// runs after Ctrl-C too. what names tg in the --keep message.
func (r *run) deploy(ctx context.Context, tg *Targets, what string) (cleanup func() error, err error) {
	if err := tg.Install(ctx, r.cs); err != nil {
		return nil, err
	}
	cleanup = func() error {
		if r.cfg.Keep {
			r.progressf("%s kept in namespace %s (--keep)", what, tg.Namespace)
			return nil
		}
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		r.enter("cleanup")
		if err := tg.Uninstall(cctx, r.cs); err != nil {
			return fmt.Errorf("cleanup: %w", err)
		}
		return nil
	}
	r.enter("targets")
	rctx, cancel := context.WithTimeout(ctx, r.cfg.ReadyTimeout)
	defer cancel()
	lastTick := time.Now()
	err = tg.Ready(rctx, r.cs, func(ready, desired int) {
		if time.Since(lastTick) >= r.cfg.ProgressEvery {
			lastTick = time.Now()
			r.progressf("%d of %d endpoints ready", ready, desired)
		}
	})
	return cleanup, err
}

// joinCleanup runs cleanup (nil: nothing was installed) and adds its error
// to *err; callers defer it right after deploy.
func joinCleanup(err *error, cleanup func() error) {
	if cleanup == nil {
		return
	}
	if cerr := cleanup(); cerr != nil {
		*err = errors.Join(*err, cerr)
	}
}

// Run runs one scenario and writes its report. A criteria failure is not an
// error: it is the report's verdict. An error means the run could not be
// done; the targets are removed either way unless cfg.Keep.
func Run(ctx context.Context, cfg Config) (res *Result, err error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	s := cfg.Scenario
	r, _, env, err := start(cfg)
	if err != nil {
		return nil, err
	}
	cs := r.cs

	tg := &Targets{Kubeconfig: cfg.Kubeconfig, Context: cfg.Context, Namespace: cfg.Namespace, Release: cfg.Release,
		Count: s.Services.Count, Replicas: s.Services.Endpoints, Log: cfg.Log}
	r.enter("deploy")
	r.progressf("%d target services x %d endpoints in namespace %s", tg.Count, tg.Replicas, tg.Namespace)
	cleanup, err := r.deploy(ctx, tg, "targets")
	defer joinCleanup(&err, cleanup)
	if err != nil {
		return nil, err
	}

	// Everything from here runs until the load ends.
	lctx, stopLoad := context.WithCancel(ctx)
	// stopLoad also runs early, at collect; a second call is a no-op.
	defer stopLoad()
	sampler, stopSampler := startSampler(lctx, cfg)
	defer stopSampler()

	if err := os.MkdirAll(cfg.OutDir, 0o755); err != nil {
		return nil, fmt.Errorf("output directory: %w", err)
	}
	// This process holds the clients and churn; its CPU and scheduling
	// delay go into the report's instrument section.
	meter := procstat.Start(lctx, "clients")

	r.enter("observe")
	// Churn's events reach the observer process through a feed, as the
	// clients' do in a cluster.
	feed := eventfeed.New()
	feedAddr, _, err := admin.Serve(lctx, cfg.Log, "127.0.0.1:0", http.Handler(feed))
	if err != nil {
		return nil, fmt.Errorf("event feed: %w", err)
	}
	obs, err := startObserver(ctx, cfg, tg, "http://"+feedAddr.String(), cfg.OutDir)
	if err != nil {
		return nil, err
	}
	obsStopped := false
	defer func() {
		if !obsStopped {
			obs.kill()
		}
	}()

	r.enter("connect")
	nodes, removeNodes, err := r.clientNodes(ctx, tg)
	defer joinCleanup(&err, removeNodes)
	if err != nil {
		return nil, err
	}
	cl, err := newClients(cfg, tg, nodes)
	if err != nil {
		return nil, err
	}
	// Memory before the first stream is what memory per subscriber is
	// measured from (report.MemoryPerSubscriber).
	sampler.WaitFirst(ctx, 10*time.Second)
	r.heapProfiles.BeforeBytes, r.heapProfiles.BeforeAfterGCBytes = r.runHeapProfile(ctx, "heap-before.pb.gz")
	cctx, stopClients := context.WithCancel(lctx)
	var cwg sync.WaitGroup
	startClients := func(list []*client.Client) {
		for _, c := range list {
			cwg.Go(func() {
				if err := c.Run(cctx); err != nil {
					cfg.Log.Error("client stopped", "err", err)
				}
			})
		}
	}
	stopAllClients := sync.OnceFunc(func() { stopClients(); cwg.Wait() })
	defer stopAllClients()
	perSvc := s.Clients.Streams / s.Services.Count
	want := s.Clients.Streams * s.Services.Endpoints
	stat := func() string { return r.status(ctx, cl, obs, sampler) }
	if s.Sweep != nil {
		if r.sweepSteps, err = r.sweep(ctx, cl, startClients, sampler, stat); err != nil {
			return nil, err
		}
	} else {
		startClients(cl.list)
	}
	// A destination that only ever answers with errors (wrong address,
	// not serving this cluster) fails the run early instead of after
	// ReadyTimeout.
	connectStart := time.Now()
	var hopeless string
	ok := r.waitProgress(ctx, cfg.ReadyTimeout, func() bool {
		if cl.endpointsHeld() == want {
			return true
		}
		if time.Since(connectStart) > 30*time.Second && cl.endpointsHeld() == 0 {
			if causes := cl.errorCauses(); causes != "" {
				hopeless = causes
				return true
			}
		}
		return false
	}, stat)
	if ctx.Err() != nil {
		return nil, context.Cause(ctx)
	}
	if hopeless != "" {
		return nil, fmt.Errorf("no stream received an endpoint from the destination controller at %s in 30s; stream errors: %s", cfg.DestinationAddr, hopeless)
	}
	if !ok {
		return nil, fmt.Errorf("streams did not receive the targets' endpoints within %s (%s); is the destination controller at %s serving this cluster?",
			cfg.ReadyTimeout, stat(), cfg.DestinationAddr)
	}

	loadStart := time.Now()
	r.hostLoadStart, r.hostOK = procstat.ReadHostCPU()
	r.hostLast = r.hostLoadStart
	r.selfCPULast, r.selfLast = procstat.CPUSeconds(), time.Now()
	var churner *churn.Churner
	switch s.Churn.Pattern {
	case scenario.PatternOscillate:
		r.enter("churn")
		c := s.Churn
		churner, err = churn.New(lctx, cfg.Log.With("component", "churn"), prometheus.NewRegistry(), cs, churn.Options{
			Namespace: tg.Namespace, Selector: tg.Selector(),
			Pattern: churn.Pattern{Kind: churn.Oscillate, Min: c.Min, Max: c.Max, HoldMax: c.HoldMax, HoldMin: c.HoldMin, Jitter: c.Jitter, Cycles: c.Cycles},
		}, feed.Append, cl.onEvent)
		if err != nil {
			return nil, fmt.Errorf("churn: %w", err)
		}
		// churn.duration caps the churn phase; 0 lets the cycles decide.
		limit := c.Duration
		if limit == 0 {
			limit = 365 * 24 * time.Hour
		}
		chctx, stopChurn := context.WithTimeout(lctx, limit)
		done := make(chan error, 1)
		go func() { done <- churner.Run(chctx) }()
		wantEvents := s.Events() * s.Services.Count
		events := func() string {
			return fmt.Sprintf("events %d/%d, %s", len(churner.Records().ScaleEvents), wantEvents, stat())
		}
		err = r.waitChan(ctx, done, events)
		stopChurn()
		if err != nil {
			return nil, fmt.Errorf("churn: %w", err)
		}
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}

		r.enter("settle")
		// The last wave's hold usually covers convergence; settle waits
		// for the stragglers, ending as soon as everything converged.
		targets := lastTargets(churner.Records(), tg, s.Services.Endpoints)
		wantHeld, wantReady := 0, 0
		for _, n := range targets {
			wantHeld += n * perSvc
			wantReady += n
		}
		r.waitProgress(ctx, s.Settle, func() bool {
			return cl.endpointsHeld() == wantHeld && obs.readyEndpoints(ctx) == float64(wantReady)
		}, stat)
	default:
		if s.Sweep == nil {
			r.enter("hold")
			r.waitProgress(ctx, s.Churn.Duration, func() bool { return false }, stat)
		}
	}
	if ctx.Err() != nil {
		return nil, context.Cause(ctx)
	}
	loadEnd := time.Now()
	if n := len(r.sweepSteps); n > 0 {
		// A sweep's load window is its last step: every stream open.
		loadStart, loadEnd = r.sweepSteps[n-1].Held, r.sweepSteps[n-1].Ended
	} else {
		r.heapProfiles.LoadBytes, r.heapProfiles.LoadAfterGCBytes = r.runHeapProfile(ctx, "heap-load.pb.gz")
	}
	r.hostLoadEnd, _ = procstat.ReadHostCPU()

	r.enter("collect")
	stopAllClients()
	stats := meter.Stop()
	obsStopped = true
	obsRecords, err := obs.stop()
	if err != nil {
		return nil, err
	}
	stopSampler()
	stopLoad()
	sets := append(cl.records(), obsRecords, record.Set{Processes: []record.ProcessStat{stats}})
	if churner != nil {
		sets = append(sets, churner.Records())
	}
	records := record.Merge(sets...)
	var samples []dstmetrics.Sample
	if sampler != nil {
		samples = sampler.Samples()
	}

	return r.finish(env, records, samples, loadStart, loadEnd)
}

// finish is everything after the records are collected, shared by the
// local and the in-cluster paths: build and judge the report, write it
// (and the raw records when asked).
func (r *run) finish(env report.Environment, records record.Set, samples []dstmetrics.Sample, loadStart, loadEnd time.Time) (*Result, error) {
	cfg := r.cfg
	r.enter("report")
	rep := report.Build(report.Input{
		Scenario: cfg.Scenario, Overrides: cfg.Overrides, Tool: cfg.Tool, Environment: env,
		Started: r.started, Ended: time.Now(), LoadStart: loadStart, LoadEnd: loadEnd, Phases: r.endPhases(),
		Records: records, MetricsURL: cfg.MetricsURL, MetricsInterval: cfg.MetricsInterval, Destination: samples,
		HostCPUBusy: r.hostBusy(), HeapProfiles: r.heapProfiles, SweepSteps: r.sweepSteps,
	})
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

// lastTargets is each target's replica count after the churn: its last
// event's target, or the start size.
func lastTargets(set record.Set, tg *Targets, start int) map[string]int {
	out := map[string]int{}
	var seq = map[string]uint64{}
	for _, n := range tg.Names() {
		out[tg.Namespace+"/"+n] = start
	}
	for _, e := range set.ScaleEvents {
		if e.Seq >= seq[e.Service] {
			seq[e.Service] = e.Seq
			out[e.Service] = e.Target
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
