package runner

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/dstload/dstload/workload/admin"
	"github.com/dstload/dstload/workload/churn"
	"github.com/dstload/dstload/workload/client"
	"github.com/dstload/dstload/workload/dstmetrics"
	"github.com/dstload/dstload/workload/eventfeed"
	"github.com/dstload/dstload/workload/procstat"
	"github.com/dstload/dstload/workload/record"
	"github.com/dstload/dstload/workload/scenario"
)

// Run runs one scenario on the local provider: churn and the clients run
// inside this process, the observer as a process of its own, all on one
// host clock; the chart's static part provides the targets. See
// orchestrate for what an error means.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	r, _, env, err := start(cfg)
	if err != nil {
		return nil, err
	}
	s := cfg.Scenario
	tg := &Targets{Kubeconfig: cfg.Kubeconfig, Context: cfg.Context, Namespace: cfg.Namespace, Release: cfg.Release,
		Count: s.Services.Count, Replicas: s.Services.Endpoints, Log: cfg.Log, NoInjection: true}
	tg.Values = cfg.targetValues(tg)
	env.Clusters = cfg.clusters()
	return orchestrate(ctx, r, env, &localBackend{r: r, tg: tg})
}

// localBackend is the in-process workload.
type localBackend struct {
	r  *run
	tg *Targets

	sampler     *dstmetrics.Sampler
	stopSampler func()
	meter       *procstat.Meter
	// releaseProcs ends the load's limit on this process's Ps.
	releaseProcs func()
	// feeds carry churn's events to the observers, one per observed
	// cluster (keyed by record.ScaleEvent.Cluster: "" on one cluster), so
	// that each judges its own cluster's events.
	feeds       map[string]*eventfeed.Feed
	obs         observers
	obsStopped  bool
	cl          *clients
	stopClients func()
	// removeNodes removes the client nodes (nil: none made).
	removeNodes func() error

	churner   *churn.Churner
	churnDone chan error
	stopChurn context.CancelFunc
	// withdrawTargets ends Prometheus' scrape of the run's processes.
	withdrawTargets func()
}

func (b *localBackend) deploy(ctx context.Context) (func(context.Context) error, error) {
	b.r.progressf("%d target services x %d endpoints in namespace %s", b.tg.Count, b.tg.Replicas, b.tg.Namespace)
	var rm func(context.Context) error
	var err error
	if b.r.cfg.federated() {
		rm, err = b.r.deployFederated(ctx, b.tg)
	} else {
		rm, err = b.r.deployTargets(ctx, b.r.cs, b.tg, "targets")
		if err == nil && b.r.cfg.Multicluster != nil {
			err = b.r.waitMirrors(ctx, b.tg)
		}
	}
	// The client nodes connect makes go with the targets.
	return func(ctx context.Context) error {
		var errs []error
		if rm != nil {
			errs = append(errs, rm(ctx))
		}
		if b.removeNodes != nil {
			errs = append(errs, b.removeNodes())
		}
		return errors.Join(errs...)
	}, err
}

func (b *localBackend) connect(ctx context.Context) error {
	cfg := b.r.cfg
	b.sampler, b.stopSampler = startSampler(ctx, cfg)
	b.r.setSampler(b.sampler)
	if err := os.MkdirAll(cfg.OutDir, 0o755); err != nil {
		return fmt.Errorf("output directory: %w", err)
	}
	// This process holds the clients and churn; its CPU and scheduling
	// delay go into the report's instrument section.
	b.meter = procstat.Start(ctx, "clients")
	b.releaseProcs = procstat.LimitProcs(cfg.Scenario.Clients.Streams)

	b.r.enter("observe")
	// Churn's events reach each observer process through a feed, as the
	// clients' do in a cluster.
	b.feeds = map[string]*eventfeed.Feed{}
	for _, spec := range cfg.observerSpecs() {
		feed := eventfeed.New()
		feedAddr, _, err := admin.Serve(ctx, cfg.Log, "127.0.0.1:0", http.Handler(feed))
		if err != nil {
			return fmt.Errorf("event feed: %w", err)
		}
		b.feeds[spec.cluster] = feed
		o, err := startObserver(ctx, cfg, spec, b.tg, "http://"+feedAddr.String(), cfg.OutDir)
		if err != nil {
			return err
		}
		b.obs = append(b.obs, o)
	}

	b.r.enter("connect")
	nodes, removeNodes, err := b.r.clientNodes(ctx, b.tg)
	b.removeNodes = removeNodes
	if err != nil {
		return err
	}
	if b.cl, err = newClients(cfg, b.tg, nodes); err != nil {
		return err
	}
	if b.withdrawTargets, err = runTargets(ctx, cfg, b.cl.reg, b.obs.scrapeTargets()); err != nil {
		return err
	}
	// Memory before the first stream is what memory per subscriber is
	// measured from (report.MemoryPerSubscriber).
	b.sampler.WaitFirst(ctx, 10*time.Second)
	r := b.r
	r.heapProfiles.BeforeBytes, r.heapProfiles.BeforeAfterGCBytes = r.runHeapProfile(ctx, "heap-before.pb.gz")
	cctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	start := func(list []*client.Client) {
		for _, c := range list {
			wg.Go(func() {
				if err := c.Run(cctx); err != nil {
					cfg.Log.Error("client stopped", "err", err)
				}
			})
		}
	}
	b.stopClients = sync.OnceFunc(func() { stop(); wg.Wait() })
	if cfg.Scenario.Sweep != nil {
		// The sweep opens the streams step by step and holds each step.
		r.sweepSteps, err = r.sweep(ctx, b.cl, start, b.sampler, func() string { return b.status(ctx) })
		return err
	}
	start(b.cl.list)
	return nil
}

func (b *localBackend) startChurn(ctx context.Context) error {
	r := b.r
	r.hostLoadStart, r.hostOK = procstat.ReadHostCPU()
	r.hostLast = r.hostLoadStart
	r.selfCPULast, r.selfLast = procstat.CPUSeconds(), time.Now()
	c := r.cfg.Scenario.Churn
	if c.Pattern != scenario.PatternOscillate {
		return nil // stable: the targets already hold their size
	}
	var err error
	o := churn.Options{
		Namespace: b.tg.Namespace, Selector: b.tg.Selector(),
		Pattern: churn.Pattern{Kind: churn.Oscillate, Min: c.Min, Max: c.Max, HoldMax: c.HoldMax, HoldMin: c.HoldMin, Jitter: c.Jitter, Cycles: c.Cycles},
	}
	if m := r.cfg.Multicluster; r.cfg.federated() {
		// The members churn in both clusters, the source's a share of
		// the hold after the target's.
		o.Cluster, o.Others = m.Target, []churn.Cluster{{Name: m.Source, CS: r.sourceCS}}
	}
	toObserver := func(e record.ScaleEvent) { b.feeds[e.Cluster].Append(e) }
	// Churn's metrics go with the clients' (one /metrics for Prometheus).
	b.churner, err = churn.New(ctx, r.cfg.Log.With("component", "churn"), b.cl.reg, r.cs, o, toObserver, b.cl.onEvent)
	if err != nil {
		return fmt.Errorf("churn: %w", err)
	}
	// churn.duration caps the churn phase; 0 lets the cycles decide.
	limit := c.Duration
	if limit == 0 {
		limit = 365 * 24 * time.Hour
	}
	chctx, stop := context.WithTimeout(ctx, limit)
	b.stopChurn = stop
	b.churnDone = make(chan error, 1)
	go func() { b.churnDone <- b.churner.Run(chctx); close(b.churnDone) }()
	return nil
}

func (b *localBackend) poll(ctx context.Context) progress {
	p := progress{held: b.cl.endpointsHeld(), observed: int(b.obs.readyEndpoints(ctx)), errors: b.cl.errorCauses()}
	if b.churner != nil {
		rec := b.churner.Records()
		p.events = len(rec.ScaleEvents) + len(rec.ScaleFailures)
		select {
		case <-b.churnDone:
			p.churnDone = true
		default:
		}
	}
	return p
}

func (b *localBackend) status(ctx context.Context) string {
	// Not cancelled with the load: the line after a fault still reads
	// the observer.
	return b.r.status(context.WithoutCancel(ctx), b.cl, b.obs, b.sampler)
}

func (b *localBackend) finalTargets(context.Context) (map[string]int, error) {
	b.stopChurn()
	return lastTargets(b.churner.Records(), b.tg, b.r.cfg.Scenario.Services.Endpoints*b.r.cfg.endpointClusters()), nil
}

func (b *localBackend) collect(context.Context) (record.Set, []dstmetrics.Sample, error) {
	r := b.r
	r.hostLoadEnd, _ = procstat.ReadHostCPU()
	if b.withdrawTargets != nil {
		b.withdrawTargets()
	}
	var sets []record.Set
	// The clients' cost is the load's: the meter stops with the streams,
	// before this process gathers and merges the records, which is the
	// report's work (as building the report is).
	if b.cl != nil {
		b.stopClients()
	}
	if b.releaseProcs != nil {
		b.releaseProcs() // merging and the report use every core
	}
	if b.meter != nil {
		sets = append(sets, record.Set{Processes: []record.ProcessStat{b.meter.Stop()}})
	}
	if b.cl != nil {
		sets = append(sets, b.cl.records()...)
	}
	var errs error
	if b.obs != nil {
		b.obsStopped = true
		obsRecords, err := b.obs.stop()
		if err != nil {
			errs = err
		}
		sets = append(sets, obsRecords)
	}
	if b.churner != nil {
		b.stopChurn()
		<-b.churnDone
		sets = append(sets, b.churner.Records())
	}
	var samples []dstmetrics.Sample
	if b.sampler != nil {
		b.stopSampler()
		samples = b.sampler.Samples()
	}
	return record.Merge(sets...), samples, errs
}

func (b *localBackend) close() {
	if b.withdrawTargets != nil {
		b.withdrawTargets()
	}
	if b.stopChurn != nil {
		b.stopChurn()
	}
	if b.stopClients != nil {
		b.stopClients()
	}
	if b.obs != nil && !b.obsStopped {
		b.obs.kill()
	}
	if b.stopSampler != nil {
		b.stopSampler()
	}
	if b.releaseProcs != nil {
		b.releaseProcs()
	}
}
