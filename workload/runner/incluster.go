package runner

import (
	"context"
	"fmt"
	"strconv"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/dstload/dstload/workload/dstmetrics"
	"github.com/dstload/dstload/workload/record"
)

// InCluster is what the in-cluster path (k3d, kubeconfig) needs beyond
// Config: churn and clients run as the chart's pods, and everything about
// them is read through the API server.
type InCluster struct {
	// Image runs churn and client (zero: the chart's published image).
	Image Image
	// DestinationNamespace and DestinationSelector find the destination
	// controller pod whose admin port (DestinationAdminPort) is sampled
	// through the pods proxy when Config.MetricsURL is "". No such pod
	// means no samples, said in the progress output.
	DestinationNamespace string
	DestinationSelector  string
	DestinationAdminPort int
}

func (ic *InCluster) defaults() {
	if ic.DestinationNamespace == "" {
		ic.DestinationNamespace = "linkerd"
	}
	if ic.DestinationSelector == "" {
		ic.DestinationSelector = "linkerd.io/control-plane-component=destination"
	}
	if ic.DestinationAdminPort == 0 {
		ic.DestinationAdminPort = 9996
	}
}

// adminPort is the chart's admin.port the run sets (churn and client
// /metrics, /records).
const adminPort = 9102

// Metric names the in-cluster progress and end conditions read.
const (
	mClientStreams   = "dstload_client_streams"
	mClientEndpoints = "dstload_client_endpoints"
	mClientErrors    = "dstload_client_stream_errors_total"
	mChurnWrites     = "dstload_churn_writes_total"
	mChurnFailures   = "dstload_churn_write_failures_total"
	mObserverReady   = "dstload_observer_ready_endpoints"
)

// RunInCluster runs one scenario with churn and clients as the
// dst-load-test chart's pods: it installs the chart (targets, churn held at
// zero replicas, clients), waits for the targets and for every client
// stream to hold every endpoint, starts churn, follows progress and waits
// for the end through the pods' admin ports (API server pods proxy),
// collects and merges every pod's records and hands them to the same
// report code as Run. Config.DestinationAddr is the address the client
// pods dial ("" = the chart's default, Linkerd's in-cluster Service).
func RunInCluster(ctx context.Context, cfg Config, ic InCluster) (res *Result, err error) {
	if cfg.DestinationAddr == "" {
		// The chart's default (passed on unchanged, and recorded).
		if cfg.DestinationAddr, err = ChartDestinationAddr(); err != nil {
			return nil, err
		}
	}
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	ic.defaults()
	s := cfg.Scenario
	r, rc, env, err := start(cfg)
	if err != nil {
		return nil, err
	}
	tg := &Targets{Kubeconfig: cfg.Kubeconfig, Context: cfg.Context, Namespace: cfg.Namespace, Release: cfg.Release,
		Count: s.Services.Count, Replicas: s.Services.Endpoints, Log: cfg.Log,
		Values: ChartValues(s, ic.Image, cfg.DestinationAddr), PostRenderer: holdChurn{}}
	b := &clusterBackend{r: r, rc: rc, ic: ic, tg: tg, stopSampler: func() {}}
	b.w = &clusterWatch{r: r, fetch: podsProxy(r.cs, tg.Namespace, adminPort)}
	return orchestrate(ctx, r, env, b)
}

// clusterBackend is the workload as the chart's pods.
type clusterBackend struct {
	r  *run
	rc *rest.Config
	ic InCluster
	tg *Targets
	w  *clusterWatch

	sampler     *dstmetrics.Sampler
	stopSampler func()
	churnStart  time.Time
}

func (b *clusterBackend) deploy(ctx context.Context) (func(context.Context) error, error) {
	s := b.r.cfg.Scenario
	b.r.progressf("%d target services x %d endpoints, %d client pods, churn in namespace %s", b.tg.Count, b.tg.Replicas, s.Clients.Processes, b.tg.Namespace)
	return b.r.deployTargets(ctx, b.r.cs, b.tg, "workload")
}

func (b *clusterBackend) connect(ctx context.Context) error {
	r := b.r
	sampler, stop, err := startClusterSampler(ctx, r, b.rc, r.cs, b.ic)
	if err != nil {
		return err
	}
	b.sampler, b.stopSampler, b.w.sampler = sampler, stop, sampler
	r.setSampler(sampler)
	n := r.cfg.Scenario.Clients.Processes
	b.w.clients, err = waitPodsReady(ctx, r.cs, b.tg.Namespace, b.tg.Release, componentClient, n, r.cfg.ReadyTimeout, r.podsTick("client", n))
	return err
}

// startChurn scales churn (installed at zero replicas) to one pod and waits
// for it.
func (b *clusterBackend) startChurn(ctx context.Context) error {
	r := b.r
	if err := startChurn(ctx, r.cs, b.tg); err != nil {
		return err
	}
	pods, err := waitPodsReady(ctx, r.cs, b.tg.Namespace, b.tg.Release, componentChurn, 1, r.cfg.ReadyTimeout, r.podsTick("churn", 1))
	b.w.churn, b.churnStart = pods, time.Now()
	return err
}

func (b *clusterBackend) poll(ctx context.Context) progress {
	m := b.w.poll(ctx)
	p := progress{held: m.held, observed: m.observed, events: int(m.writes + m.failures)}
	if m.errors > 0 {
		p.errors = fmt.Sprintf("%.0f stream errors", m.errors)
	}
	s := b.r.cfg.Scenario
	// Churn's pod keeps serving after its pattern: it is done when every
	// event is written or failed, or churn.duration is over.
	limit := s.Churn.Duration
	p.churnDone = len(b.w.churn) > 0 && (p.events >= s.Events()*s.Services.Count || limit > 0 && time.Since(b.churnStart) > limit)
	return p
}

func (b *clusterBackend) status(context.Context) string { return b.w.status() }

func (b *clusterBackend) finalTargets(ctx context.Context) (map[string]int, error) {
	set, err := collectRecords(ctx, b.w.fetch, b.w.churn)
	if err != nil {
		return nil, err
	}
	return lastTargets(set, b.tg, b.r.cfg.Scenario.Services.Endpoints), nil
}

// collect takes the pods' /records: they keep running until cleanup, so
// these are snapshots taken now, clients first so that no stream sees an
// event churn has not recorded.
func (b *clusterBackend) collect(ctx context.Context) (record.Set, []dstmetrics.Sample, error) {
	b.stopSampler()
	var samples []dstmetrics.Sample
	if b.sampler != nil {
		samples = b.sampler.Samples()
	}
	records, err := collectRecords(ctx, b.w.fetch, append(append([]string(nil), b.w.clients...), b.w.churn...))
	return records, samples, err
}

func (b *clusterBackend) close() { b.stopSampler() }

// podsTick prints "n of want <component> pods ready" every ProgressEvery.
func (r *run) podsTick(component string, want int) func(int) {
	last := time.Now()
	return func(ready int) {
		if time.Since(last) >= r.cfg.ProgressEvery {
			last = time.Now()
			r.progressf("%d of %d %s pods ready", ready, want, component)
		}
	}
}

// startChurn scales the churn Deployment (installed at zero) to one.
func startChurn(ctx context.Context, cs kubernetes.Interface, tg *Targets) error {
	sel := "app.kubernetes.io/instance=" + tg.Release + "," + componentLabel + "=" + componentChurn
	list, err := cs.AppsV1().Deployments(tg.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return fmt.Errorf("find the churn Deployment: %w", err)
	}
	if len(list.Items) != 1 {
		return fmt.Errorf("find the churn Deployment: %d match %q in %s", len(list.Items), sel, tg.Namespace)
	}
	name := list.Items[0].Name
	sc := &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: tg.Namespace}, Spec: autoscalingv1.ScaleSpec{Replicas: 1}}
	if _, err := cs.AppsV1().Deployments(tg.Namespace).UpdateScale(ctx, name, sc, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("start churn (scale %s to 1): %w", name, err)
	}
	return nil
}

// startClusterSampler samples the destination controller's /metrics: from
// Config.MetricsURL when given, else through the API server's pods proxy
// to the destination pod's admin port. No destination pod is not an error
// (a controller outside the cluster); the run says it has no samples.
func startClusterSampler(ctx context.Context, r *run, rc *rest.Config, cs kubernetes.Interface, ic InCluster) (*dstmetrics.Sampler, func(), error) {
	if r.cfg.MetricsURL != "" {
		s, stop := startSampler(ctx, r.cfg)
		return s, stop, nil
	}
	pods, err := cs.CoreV1().Pods(ic.DestinationNamespace).List(ctx, metav1.ListOptions{LabelSelector: ic.DestinationSelector})
	if err != nil {
		return nil, nil, fmt.Errorf("find the destination controller pod: %w", err)
	}
	if len(pods.Items) == 0 {
		r.progressf("no pod matches %s in namespace %s: destination /metrics not sampled", ic.DestinationSelector, ic.DestinationNamespace)
		return nil, func() {}, nil
	}
	pod := pods.Items[0].Name
	hc, err := rest.HTTPClientFor(rc)
	if err != nil {
		return nil, nil, fmt.Errorf("API server HTTP client: %w", err)
	}
	hc.Timeout = 5 * time.Second
	url := destinationProxyURL(rc.Host, ic.DestinationNamespace, pod, ic.DestinationAdminPort)
	r.cfg.MetricsURL = url
	s := dstmetrics.NewSampler(url, r.cfg.MetricsInterval, r.cfg.Log)
	s.Client = hc
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { s.Run(sctx); close(done) }()
	// Safe to call twice (deferred, and at collect): done stays closed.
	return s, func() { cancel(); <-done }, nil
}

// destinationProxyURL is the API server's pods proxy URL of a pod's
// /metrics on port.
func destinationProxyURL(host, namespace, pod string, port int) string {
	return fmt.Sprintf("%s/api/v1/namespaces/%s/pods/http:%s:%s/proxy/metrics", host, namespace, pod, strconv.Itoa(port))
}

// clusterWatch reads the workload pods' metrics for progress and end
// conditions.
type clusterWatch struct {
	r       *run
	fetch   Fetch
	clients []string
	churn   []string
	sampler *dstmetrics.Sampler
	last    clusterMetrics
}

type clusterMetrics struct {
	streams, errors  float64
	writes, failures float64
	// held and observed are sums of integer gauges (exact in a float).
	held, observed int
	failed         []string
}

func (w *clusterWatch) poll(ctx context.Context) clusterMetrics {
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cm, failed := podMetrics(pctx, w.fetch, w.clients, mClientStreams, mClientEndpoints, mClientErrors)
	m := clusterMetrics{streams: cm[mClientStreams], held: int(cm[mClientEndpoints]), errors: cm[mClientErrors], failed: failed, observed: -1}
	if len(w.churn) > 0 {
		ch, f := podMetrics(pctx, w.fetch, w.churn, mChurnWrites, mChurnFailures, mObserverReady)
		m.writes, m.failures, m.failed = ch[mChurnWrites], ch[mChurnFailures], append(m.failed, f...)
		if len(f) == 0 {
			m.observed = int(ch[mObserverReady])
		}
	}
	w.last = m
	return m
}

func (w *clusterWatch) status() string {
	m := w.last
	s := fmt.Sprintf("streams %.0f up in %d client pods, %.0f errors, endpoints held %d", m.streams, len(w.clients), m.errors, m.held)
	if m.observed >= 0 && len(w.churn) > 0 {
		s += fmt.Sprintf(", observed ready %d", m.observed)
	}
	if len(m.failed) > 0 {
		s += fmt.Sprintf(", unreadable: %v", m.failed)
	}
	return s + destinationStatus(w.sampler)
}
