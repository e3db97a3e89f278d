// Package runner is `dstload run`: it deploys a scenario's targets, runs
// churn, the observer and the clients, samples the destination controller,
// waits for the end, and hands the records to workload/report for the
// verdict.
//
// On the local provider (Run) everything runs inside this process (one
// host clock); the chart's static part provides the target Services and
// Deployments. On k3d and kubeconfig (RunInCluster) churn and the clients
// are the chart's pods, read through the API server's pods proxy. Both are
// backends of one orchestrator (orchestrate.go): the same phases, checks,
// fault handling (faults.go) and report.
package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/kubernetes"

	"github.com/dstload/dstload/workload/client"
	"github.com/dstload/dstload/workload/dstmetrics"
	"github.com/dstload/dstload/workload/procstat"
	"github.com/dstload/dstload/workload/record"
	"github.com/dstload/dstload/workload/report"
	"github.com/dstload/dstload/workload/scenario"
)

// Config is one run.
type Config struct {
	// Scenario is the effective scenario (overrides already applied);
	// Overrides is recorded in the report.
	Scenario  *scenario.Scenario
	Overrides scenario.Overrides

	Kubeconfig, Context string
	// Multicluster, when set, is a run on a linked pair (multicluster.go);
	// Kubeconfig is then the cluster where the endpoints live.
	Multicluster *Multicluster
	// Namespace and Release name the targets' namespace and Helm release.
	Namespace, Release string

	// ObserverCommand is the argv prefix that runs `dstload observe` (cmd
	// passes its own executable); Run starts the observer as a process of
	// its own with ObserverEnv as its environment.
	ObserverCommand []string
	ObserverEnv     []string

	// DestinationAddr is the destination controller's gRPC host:port;
	// MetricsURL its Prometheus endpoint ("" = not sampled).
	DestinationAddr string
	MetricsURL      string
	MetricsInterval time.Duration
	// DestinationLog is the supervised controller's log file ("" = not
	// supervised): its errors and warnings go into the report.
	DestinationLog string

	// ReadyTimeout bounds the wait for targets and for the streams' first
	// convergence.
	ReadyTimeout time.Duration
	// OutDir receives report.json, report.md and the plots.
	OutDir     string
	PlotFormat string
	// Keep leaves the targets installed.
	Keep bool
	// SaveRecords also writes the raw records (record.Set JSON) as
	// records.ndjson.gz next to the report, for re-analysis.
	SaveRecords bool

	Tool        report.Tool
	Environment report.Environment

	// Monitoring, when set, is the environment's own Prometheus.
	Monitoring *Monitoring

	// Components, when set, lists the environment's parts that are not
	// running now (cmd: supervised processes that exited; the destination
	// controller as DestinationComponent). The run calls it every second
	// and stops the load on the first one down, so it must be cheap.
	Components func() []ComponentDown

	Log *slog.Logger
	// Progress receives one line per phase change and a status line every
	// ProgressEvery while the load runs.
	Progress      io.Writer
	ProgressEvery time.Duration
}

// Result is a finished run.
type Result struct {
	Report *report.Report
	Files  report.Files
	// Cleanup is the cleanup's failure after the report was written: said
	// after the verdict, never instead of it.
	Cleanup error
}

func (c *Config) defaults() error {
	if c.Scenario == nil {
		return errors.New("no scenario")
	}
	if c.DestinationAddr == "" {
		return errors.New("no destination address")
	}
	if c.Namespace == "" {
		c.Namespace = "dstload-run"
	}
	if c.Release == "" {
		c.Release = "dstload-run"
	}
	if c.MetricsInterval == 0 {
		c.MetricsInterval = 2 * time.Second
	}
	if c.ReadyTimeout == 0 {
		c.ReadyTimeout = 10 * time.Minute
	}
	if c.PlotFormat == "" {
		c.PlotFormat = "svg"
	}
	if c.ProgressEvery == 0 {
		c.ProgressEvery = 10 * time.Second
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Environment.OS == "" {
		c.Environment.OS, c.Environment.Arch, c.Environment.CPUs = runtime.GOOS, runtime.GOARCH, runtime.NumCPU()
	}
	return nil
}

// run holds one run's moving parts.
type run struct {
	cfg     Config
	cs      kubernetes.Interface
	started time.Time
	// sourceCS reaches the source of a multicluster run (nil: one
	// cluster), where the clients' nodes are.
	sourceCS kubernetes.Interface

	mu     sync.Mutex
	phase  string
	phases []report.Phase
	// sampler samples the destination's /metrics (nil: not, or not yet).
	sampler *dstmetrics.Sampler
	// live is the progress lines' memory (live.go).
	live live

	// Host CPU: at the load's start and end (local provider: the cluster
	// runs on this host), and at the last progress line.
	hostLoadStart, hostLoadEnd, hostLast procstat.HostCPU
	hostOK                               bool
	// This process's CPU seconds and the time at the last progress line.
	selfCPULast          float64
	selfLast             time.Time
	warnedClusterLimited bool
	// apiSlowGrace replaces the fault watch's apiSlowGrace (tests).
	apiSlowGrace time.Duration

	// A sweep's steps (nil: no sweep) and the heap profiles' live heap
	// before the first stream and at the load's end (0: none).
	sweepSteps   []report.SweepStep
	heapProfiles report.HeapProfiles
	// loadStart is when churn (or the hold) began; fault stopped the run
	// early (set once the load ended).
	loadStart time.Time
	fault     *report.Fault
}

func (r *run) enter(name string) {
	now := time.Now()
	r.mu.Lock()
	if n := len(r.phases); n > 0 && r.phases[n-1].Ended.IsZero() {
		r.phases[n-1].Ended = now.UTC()
	}
	r.phases = append(r.phases, report.Phase{Name: name, Started: now.UTC()})
	r.phase = name
	r.mu.Unlock()
	fmt.Fprintf(r.cfg.Progress, "[%7s] %s\n", time.Since(r.started).Round(time.Second), name)
}

func (r *run) endPhases() []report.Phase {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := len(r.phases); n > 0 && r.phases[n-1].Ended.IsZero() {
		r.phases[n-1].Ended = time.Now().UTC()
	}
	return append([]report.Phase(nil), r.phases...)
}

// progressf writes "[  1m02s] phase: text".
func (r *run) progressf(format string, args ...any) {
	el := time.Since(r.started).Round(time.Second)
	r.mu.Lock()
	phase := r.phase
	r.mu.Unlock()
	fmt.Fprintf(r.cfg.Progress, "[%7s] %s: %s\n", el, phase, fmt.Sprintf(format, args...))
}

// clients are the run's in-process client "processes", one per scenario
// client process. Their metrics share one registry, each client's with a
// client label, so that one /metrics serves them all (Config.Monitoring).
type clients struct {
	list []*client.Client
	reg  *prometheus.Registry
}

// newClients makes the clients; client process i sits on node
// nodes[i % len(nodes)] (its context token's nodeName).
func newClients(cfg Config, tg *Targets, nodes []string) (*clients, error) {
	s := cfg.Scenario
	var svcs []client.Service
	for _, n := range tg.Names() {
		svcs = append(svcs, client.Service{Namespace: tg.Namespace, Name: n, Port: 80})
	}
	cs := &clients{reg: prometheus.NewRegistry()}
	per := sampleStreamsPerProcess(s)
	for i := range s.Clients.Processes {
		name := fmt.Sprintf("client-%03d", i)
		reg := prometheus.WrapRegistererWith(prometheus.Labels{"client": name}, cs.reg)
		c, err := client.New(client.Options{
			Name:              name,
			Addr:              cfg.DestinationAddr,
			Services:          svcs,
			QuerySuffix:       cfg.querySuffix(),
			StreamsPerService: s.StreamsPerClientService(),
			Connections:       s.Clients.Connections,
			Token:             client.ContextToken{NS: tg.Namespace, NodeName: nodes[i%len(nodes)], Pod: fmt.Sprintf("dstload-client-%03d", i)},
			SampleStreams:     per,
		}, cfg.Log.With("client", i), reg)
		if err != nil {
			return nil, fmt.Errorf("client %d: %w", i, err)
		}
		cs.list = append(cs.list, c)
	}
	return cs, nil
}

// sampleStreamsPerProcess is one client process's share of the scenario's
// sampled streams, in the client's terms (-1 = all).
func sampleStreamsPerProcess(s *scenario.Scenario) int {
	if s.Clients.SampleStreams == 0 {
		return -1 // the scenario's 0 is the client's "all"
	}
	// The scenario's sample is over all streams; share it out.
	return max(1, s.Clients.SampleStreams/s.Clients.Processes)
}

// endpointsHeld is the endpoints held over all streams. It is read every
// pollEvery while waiting, so it reads counters rather than gathering the
// clients' registries.
func (cs *clients) endpointsHeld() int {
	total := 0
	for _, c := range cs.list {
		total += c.EndpointsHeld()
	}
	return total
}

func (cs *clients) stats() (opened, streams int, errs int) {
	for _, c := range cs.list {
		st := c.Stats()
		opened += st.Opened
		streams += st.Streams
		for cause, n := range st.Ends {
			if cause != record.CauseEndOK && cause != record.CauseLifetime {
				errs += n
			}
		}
	}
	return
}

// errorCauses summarises the stream errors so far ("Unavailable 40"), or
// "" when there were none.
func (cs *clients) errorCauses() string {
	total := map[string]int{}
	for _, c := range cs.list {
		for cause, n := range c.Stats().Ends {
			if cause != record.CauseEndOK && cause != record.CauseLifetime {
				total[cause] += n
			}
		}
	}
	var parts []string
	for cause, n := range total {
		parts = append(parts, fmt.Sprintf("%s %d", cause, n))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

func (cs *clients) onEvent(e record.ScaleEvent) {
	for _, c := range cs.list {
		c.OnEvent(e)
	}
}

func (cs *clients) records() []record.Set {
	out := make([]record.Set, len(cs.list))
	for i, c := range cs.list {
		out[i] = c.Records()
	}
	return out
}

// startSampler samples the destination's /metrics until the returned stop
// is called.
func startSampler(ctx context.Context, cfg Config) (*dstmetrics.Sampler, func()) {
	if cfg.MetricsURL == "" {
		return nil, func() {}
	}
	s := dstmetrics.NewSampler(cfg.MetricsURL, cfg.MetricsInterval, cfg.Log)
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { s.Run(sctx); close(done) }()
	return s, func() { cancel(); <-done }
}
