// Package churn scales Deployments in waves and records every write.
//
// The Deployments are chosen by label selector in one namespace; each is
// assumed to sit behind a Service of the same name (the dst-load-test chart
// creates them in pairs), so events name that Service.
package churn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	autoscalingv1ac "k8s.io/client-go/applyconfigurations/autoscaling/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/dstload/dstload/workload/record"
)

// Patterns.
const (
	Stable    = "stable"
	Oscillate = "oscillate"
)

// Pattern is what churn does over time.
//
// stable: one wave scales every Deployment to Max, then churn holds.
// oscillate: waves to Max, hold HoldMax, waves to Min, hold HoldMin, for
// Cycles cycles (0 = until stopped).
type Pattern struct {
	Kind    string
	Min     int
	Max     int
	HoldMax time.Duration
	HoldMin time.Duration
	// Jitter delays each service's write in a wave by a random share of
	// Jitter, so services do not all change at the same instant.
	Jitter time.Duration
	Cycles int
}

// Validate returns one clear error for a bad pattern.
func (p Pattern) Validate() error {
	switch {
	case p.Kind != Stable && p.Kind != Oscillate:
		return fmt.Errorf("unknown pattern %q: use stable or oscillate", p.Kind)
	case p.Min < 0 || p.Max < 0:
		return fmt.Errorf("replicas must not be negative (min %d, max %d)", p.Min, p.Max)
	case p.Kind == Oscillate && p.Min > p.Max:
		return fmt.Errorf("min replicas %d is greater than max %d", p.Min, p.Max)
	case p.Kind == Oscillate && p.Min == p.Max:
		return fmt.Errorf("oscillate needs min < max, both are %d", p.Min)
	case p.HoldMax < 0 || p.HoldMin < 0 || p.Jitter < 0:
		return errors.New("hold times and jitter must not be negative")
	case p.Cycles < 0:
		return fmt.Errorf("cycles must be 0 (forever) or more, got %d", p.Cycles)
	}
	return nil
}

// Options configure a Churner.
type Options struct {
	Namespace string
	Selector  string
	Pattern   Pattern
	// Concurrency bounds the writes in flight (default 100: a wave of 100
	// Deployments is one round of parallel patches).
	Concurrency int
	// Attempts per write (default 5) with backoff doubling from
	// RetryBackoff (default 200ms) up to 5s.
	Attempts     int
	RetryBackoff time.Duration
	// Cluster names the cluster of New's clientset, and Others are more
	// clusters whose Deployments of the same names churn with the same
	// pattern (federated: the members in each cluster). With Others each
	// event names its cluster and the union its streams should hold
	// (record.ScaleEvent.Cluster, Expect), and cluster i starts i shares
	// of the shorter hold later, so that one service's events of two
	// clusters come a hold's share apart and each has one union to reach.
	Cluster string
	Others  []Cluster
}

// Cluster is one more cluster churn scales (Options.Others).
type Cluster struct {
	Name string
	CS   kubernetes.Interface
}

// Sink receives every successful scale event (the observer, the feed).
type Sink func(record.ScaleEvent)

// Churner scales the selected Deployments.
type Churner struct {
	o        Options
	log      *slog.Logger
	clusters []Cluster
	sinks    []Sink
	deps     []string

	mu sync.Mutex
	// seq numbers one service's events over every cluster, so that
	// (Service, Seq) stays one event's; replicas is each cluster's last
	// written (or initial) count per Deployment, for Expect.
	seq      map[string]uint64
	replicas map[string]map[string]int
	events   []record.ScaleEvent
	failures []record.ScaleFailure

	mWrites   prometheus.Counter
	mFailures prometheus.Counter
	mRetries  prometheus.Counter
	mWriteDur prometheus.Histogram
	mWave     prometheus.Histogram
	mTarget   *prometheus.GaugeVec
}

// New lists the Deployments matching the selector; there must be at least one.
func New(ctx context.Context, log *slog.Logger, reg prometheus.Registerer, cs kubernetes.Interface, o Options, sinks ...Sink) (*Churner, error) {
	if err := o.Pattern.Validate(); err != nil {
		return nil, err
	}
	if o.Namespace == "" {
		return nil, errors.New("namespace is empty")
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 100
	}
	if o.Attempts <= 0 {
		o.Attempts = 5
	}
	if o.RetryBackoff <= 0 {
		o.RetryBackoff = 200 * time.Millisecond
	}
	c := &Churner{o: o, log: log, clusters: append([]Cluster{{o.Cluster, cs}}, o.Others...), sinks: sinks,
		seq: map[string]uint64{}, replicas: map[string]map[string]int{},
		mWrites: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dstload_churn_writes_total", Help: "Successful scale writes (events)."}),
		mFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dstload_churn_write_failures_total", Help: "Scale writes that failed after all retries."}),
		mRetries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dstload_churn_write_retries_total", Help: "Scale write attempts that were retried."}),
		mWriteDur: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "dstload_churn_write_seconds", Help: "Duration of successful scale writes.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		mWave: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "dstload_churn_wave_seconds", Help: "From a wave's start to its last write (jitter included).",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 14)}),
		mTarget: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dstload_churn_target_replicas", Help: "Last replica count written per service."}, []string{"service"}),
	}
	for i, cl := range c.clusters {
		list, err := cl.CS.AppsV1().Deployments(o.Namespace).List(ctx, metav1.ListOptions{LabelSelector: o.Selector})
		if err != nil {
			return nil, fmt.Errorf("list deployments in %s matching %q%s: %w", o.Namespace, o.Selector, inCluster(cl.Name), err)
		}
		reps := map[string]int{}
		for _, d := range list.Items {
			reps[d.Name] = 1
			if d.Spec.Replicas != nil {
				reps[d.Name] = int(*d.Spec.Replicas)
			}
			if i == 0 {
				c.deps = append(c.deps, d.Name)
			}
		}
		c.replicas[cl.Name] = reps
		if len(reps) == 0 {
			return nil, fmt.Errorf("no deployments in %s match %q%s", o.Namespace, o.Selector, inCluster(cl.Name))
		}
	}
	sort.Strings(c.deps)
	for _, cl := range c.clusters[1:] {
		for _, d := range c.deps {
			if _, ok := c.replicas[cl.Name][d]; !ok {
				return nil, fmt.Errorf("deployment %s/%s is in cluster %s but not in %s: churn scales the same services in every cluster", o.Namespace, d, c.clusters[0].Name, cl.Name)
			}
		}
	}
	reg.MustRegister(c.mWrites, c.mFailures, c.mRetries, c.mWriteDur, c.mWave, c.mTarget)
	return c, nil
}

func inCluster(name string) string {
	if name == "" {
		return ""
	}
	return " in cluster " + name
}

// Services are the names of the Services churned (= Deployment names).
func (c *Churner) Services() []string { return append([]string(nil), c.deps...) }

// Run churns until the pattern is done or ctx ends. A stable pattern holds
// after its wave until ctx ends; oscillate with Cycles > 0 returns after
// the last hold at min.
func (c *Churner) Run(ctx context.Context) error {
	if len(c.clusters) == 1 {
		c.run(ctx, c.clusters[0])
		return nil
	}
	p := c.o.Pattern
	stagger := min(p.HoldMax, p.HoldMin) / time.Duration(len(c.clusters))
	var wg sync.WaitGroup
	for i, cl := range c.clusters {
		wg.Go(func() {
			select {
			case <-time.After(time.Duration(i) * stagger):
				c.run(ctx, cl)
			case <-ctx.Done():
			}
		})
	}
	wg.Wait()
	return nil
}

// run is the pattern in one cluster.
func (c *Churner) run(ctx context.Context, cl Cluster) {
	p := c.o.Pattern
	if p.Kind == Stable {
		c.wave(ctx, cl, p.Max)
		<-ctx.Done()
		return
	}
	for cycle := 0; p.Cycles == 0 || cycle < p.Cycles; cycle++ {
		for _, step := range []struct {
			target int
			hold   time.Duration
		}{{p.Max, p.HoldMax}, {p.Min, p.HoldMin}} {
			c.wave(ctx, cl, step.target)
			c.log.Info("wave written", "cluster", cl.Name, "cycle", cycle+1, "target", step.target, "hold", step.hold)
			select {
			case <-time.After(step.hold):
			case <-ctx.Done():
				return
			}
		}
	}
}

// wave scales every Deployment to target, each after its own jitter.
func (c *Churner) wave(ctx context.Context, cl Cluster, target int) {
	start := time.Now()
	sem := make(chan struct{}, c.o.Concurrency)
	var wg sync.WaitGroup
	for _, d := range c.deps {
		var delay time.Duration
		if c.o.Pattern.Jitter > 0 {
			delay = rand.N(c.o.Pattern.Jitter)
		}
		wg.Go(func() {
			if delay > 0 {
				select {
				case <-time.After(delay):
				case <-ctx.Done():
					return
				}
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-sem }()
			c.scale(ctx, cl, d, target)
		})
	}
	wg.Wait()
	c.mWave.Observe(time.Since(start).Seconds())
}

// scale writes one Deployment's scale subresource with retries, and
// records the outcome either way.
func (c *Churner) scale(ctx context.Context, cl Cluster, name string, target int) {
	// Server-side apply of the scale subresource: one request, no
	// read-modify-write race, and it takes over spec.replicas from whoever
	// created the Deployment (Force).
	scale := autoscalingv1ac.Scale().WithName(name).WithNamespace(c.o.Namespace).WithSpec(autoscalingv1ac.ScaleSpec().WithReplicas(int32(target)))
	backoff := wait.Backoff{Duration: c.o.RetryBackoff, Factor: 2, Cap: 5 * time.Second, Steps: c.o.Attempts}
	var err error
	attempts := 0
	for attempt := 1; attempt <= c.o.Attempts; attempt++ {
		attempts = attempt
		start := time.Now()
		_, err = cl.CS.AppsV1().Deployments(c.o.Namespace).ApplyScale(ctx, name, scale, metav1.ApplyOptions{FieldManager: "dstload-churn", Force: true})
		if err == nil {
			took := time.Since(start)
			c.mWrites.Inc()
			c.mWriteDur.Observe(took.Seconds())
			c.mTarget.WithLabelValues(name).Set(float64(target))
			c.mu.Lock()
			c.seq[name]++
			c.replicas[cl.Name][name] = target
			e := record.ScaleEvent{Service: c.o.Namespace + "/" + name, Deployment: name, Seq: c.seq[name],
				Target: target, Time: start, Took: took, Attempts: attempt}
			if len(c.clusters) > 1 {
				e.Cluster = cl.Name
				for _, other := range c.clusters {
					e.Expect += c.replicas[other.Name][name]
				}
			}
			c.events = append(c.events, e)
			// Sinks run under the lock so every sink sees one service's
			// events in sequence order.
			for _, s := range c.sinks {
				s(e)
			}
			c.mu.Unlock()
			return
		}
		if ctx.Err() != nil || attempt == c.o.Attempts {
			break
		}
		c.mRetries.Inc()
		d := backoff.Step()
		c.log.Warn("scale write failed, retrying", "cluster", cl.Name, "deployment", name, "target", target, "attempt", attempt, "err", err, "retry", d)
		select {
		case <-time.After(d):
		case <-ctx.Done():
		}
	}
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		// Stopped mid-write: not a failure of the API server.
		return
	}
	c.mFailures.Inc()
	c.log.Error("scale write failed", "cluster", cl.Name, "deployment", name, "target", target, "attempts", attempts, "err", err)
	c.mu.Lock()
	c.failures = append(c.failures, record.ScaleFailure{Service: c.o.Namespace + "/" + name, Target: target,
		Time: time.Now(), Attempts: attempts, Error: err.Error()})
	c.mu.Unlock()
}

// Records returns a snapshot of the churn records.
func (c *Churner) Records() record.Set {
	c.mu.Lock()
	defer c.mu.Unlock()
	return record.Set{
		ScaleEvents:   append([]record.ScaleEvent(nil), c.events...),
		ScaleFailures: append([]record.ScaleFailure(nil), c.failures...),
	}
}
