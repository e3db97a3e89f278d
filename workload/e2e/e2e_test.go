// Package e2e runs churn, the observer and clients together against a real
// local cluster (provision/local/localtest) and the test Destination server
// (internal/dsttest), and checks the measurements of docs/latency.md end to
// end.
package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	"github.com/dstload/dstload/internal/dsttest"
	"github.com/dstload/dstload/internal/testutil"
	"github.com/dstload/dstload/provision/fakenode"
	"github.com/dstload/dstload/provision/local"
	"github.com/dstload/dstload/provision/local/localtest"
	"github.com/dstload/dstload/workload/admin"
	"github.com/dstload/dstload/workload/churn"
	"github.com/dstload/dstload/workload/client"
	"github.com/dstload/dstload/workload/eventfeed"
	"github.com/dstload/dstload/workload/observer"
	"github.com/dstload/dstload/workload/record"
)

const (
	ns       = "load"
	selector = "dstload.test/target=true"
	minRep   = 2
	maxRep   = 5
	// delay is what the delayed test server holds back each update.
	delay = 250 * time.Millisecond
)

// createTargets makes n Service+Deployment pairs at minRep replicas on the
// fake nodes and waits for their endpoints.
func createTargets(ctx context.Context, t *testing.T, cs kubernetes.Interface, n int) {
	t.Helper()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		name := fmt.Sprintf("svc-%d", i)
		labels := map[string]string{"app": name}
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"dstload.test/target": "true"}},
			Spec: corev1.ServiceSpec{Selector: labels,
				Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}},
		}
		dep := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"dstload.test/target": "true"}},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To[int32](minRep),
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{
						NodeSelector: fakenode.Selector(),
						Tolerations:  []corev1.Toleration{fakenode.Toleration()},
						Containers: []corev1.Container{{Name: "app", Image: "fake",
							Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}},
					},
				},
			},
		}
		if _, err := cs.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := cs.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// destination runs a test Destination server fed by the cluster on a
// loopback port; restart stops it and serves it again on the same port.
type destination struct {
	srv  *dsttest.Server
	addr string
	g    *grpc.Server
}

func startDestination(ctx context.Context, t *testing.T, cs kubernetes.Interface, o dsttest.Options) *destination {
	t.Helper()
	d := &destination{srv: dsttest.NewServer(o)}
	if err := dsttest.Watch(ctx, testutil.Log(t), cs, ns, d.srv); err != nil {
		t.Fatal(err)
	}
	d.serve(t, "127.0.0.1:0")
	t.Cleanup(func() { d.g.Stop() })
	return d
}

func (d *destination) serve(t *testing.T, addr string) {
	t.Helper()
	var ln net.Listener
	var err error
	// The old socket may linger for a moment after Stop.
	for range 50 {
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	d.addr = ln.Addr().String()
	d.g = grpc.NewServer()
	d.srv.Register(d.g)
	go func() { _ = d.g.Serve(ln) }()
}

func (d *destination) restart(t *testing.T) {
	d.g.Stop()
	d.serve(t, d.addr)
}

type runningClient struct {
	c    *client.Client
	stop func()
}

func startClient(ctx context.Context, t *testing.T, name, addr, feedURL string, services []string, streams int) *runningClient {
	t.Helper()
	var svcs []client.Service
	for _, s := range services {
		svcs = append(svcs, client.Service{Namespace: ns, Name: s, Port: 80})
	}
	c, err := client.New(client.Options{Name: name, Addr: addr, Services: svcs, StreamsPerService: streams, Connections: 2,
		SampleStreams: -1, BackoffMin: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
		Token: client.ContextToken{NS: ns, NodeName: "node", Pod: name}}, testutil.Log(t).With("client", name), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{}, 2)
	go func() { _ = c.Run(cctx); done <- struct{}{} }()
	go func() { eventfeed.Follow(cctx, testutil.Log(t), feedURL, c.OnEvent); done <- struct{}{} }()
	rc := &runningClient{c: c, stop: func() { cancel(); <-done; <-done }}
	t.Cleanup(func() { cancel() })
	return rc
}

// TestChurnObserverClient oscillates real Deployments and checks, on one
// run: the observer's times are after churn's writes and before the
// clients'; every stream converges on every event; update latency through
// a server that delays each update by a known amount comes out at that
// amount; a server restart mid-run is survived with reconnects counted; an
// unknown service is counted as NotFound.
func TestChurnObserverClient(t *testing.T) {
	klog.SetSlogLogger(testutil.Log(t))
	cl := localtest.Start(t, localtest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cs := cl.Clientset
	const services = 2
	createTargets(ctx, t, cs, services)
	// Start from a settled cluster, so the observer's initial state is
	// every service at minRep.
	testutil.WaitFor(t, time.Minute, "initial endpoints", func() bool {
		list, err := cs.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false
		}
		ready := 0
		for _, es := range list.Items {
			for _, ep := range es.Endpoints {
				if ep.Conditions.Ready == nil || *ep.Conditions.Ready {
					ready++
				}
			}
		}
		return ready == services*minRep
	})

	reg := prometheus.NewRegistry()
	feed := eventfeed.New()
	var obs *observer.Observer
	ch, err := churn.New(ctx, testutil.Log(t), reg, cs, churn.Options{Namespace: ns, Selector: selector, Pattern: churn.Pattern{
		Kind: churn.Oscillate, Min: minRep, Max: maxRep, HoldMax: 5 * time.Second, HoldMin: 5 * time.Second,
		Jitter: 300 * time.Millisecond, Cycles: 2,
	}}, func(e record.ScaleEvent) { obs.Expect(e) }, feed.Append)
	if err != nil {
		t.Fatal(err)
	}
	names := ch.Services()
	// The observer follows etcd, as `dstload run` does on local: it hears
	// of a change before the API server's watch cache passes it on to the
	// test servers, so a stream ahead of it is an instrument fault, not a
	// race between two watches.
	acc, err := local.EtcdAccessOf(cl.Dir, cl.State)
	if err != nil {
		t.Fatal(err)
	}
	src, closeEtcd, err := observer.DialEtcd(observer.EtcdTLS{Endpoint: acc.Endpoint, CAFile: acc.CAFile, CertFile: acc.CertFile, KeyFile: acc.KeyFile}, acc.Prefix)
	if err != nil {
		t.Fatal(err)
	}
	defer closeEtcd()
	obs = observer.New(testutil.Log(t), reg, ns, names, "http")
	if err := obs.StartEtcd(ctx, src, cs); err != nil {
		t.Fatal(err)
	}
	h := admin.Handlers{Registry: reg, Ready: obs.Ready, Records: func() record.Set { return record.Merge(ch.Records(), obs.Records()) },
		Extra: map[string]http.Handler{"GET /events": feed}}
	feedAddr, _, err := admin.Serve(ctx, testutil.Log(t), "127.0.0.1:0", h.Mux())
	if err != nil {
		t.Fatal(err)
	}
	feedURL := "http://" + feedAddr.String()

	plain := startDestination(ctx, t, cs, dsttest.Options{})
	delayed := startDestination(ctx, t, cs, dsttest.Options{Delay: delay})
	const streams = 3
	c1 := startClient(ctx, t, "plain", plain.addr, feedURL, names, streams)
	c2 := startClient(ctx, t, "delayed", delayed.addr, feedURL, names, streams)
	c3 := startClient(ctx, t, "unknown", plain.addr, feedURL, []string{"nope"}, streams)
	// Start from a settled cluster: every stream holds minRep endpoints.
	defer func() {
		if t.Failed() {
			open, opened, nf, of := plain.srv.Counters()
			t.Logf("plain client %+v holds %d; server open %d opened %d notfound %d overflow %d", c1.c.Stats(), endpointsHeld(c1.c), open, opened, nf, of)
			t.Logf("delayed client %+v", c2.c.Stats())
			t.Logf("plain server holds %v", plain.srv.Endpoints(ns+"/svc-0", 80))
			pods, _ := cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
			for _, p := range pods.Items {
				t.Logf("pod %s node %q phase %s ip %s conds %v", p.Name, p.Spec.NodeName, p.Status.Phase, p.Status.PodIP, p.Status.Conditions)
			}
			evs, _ := cs.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{})
			for _, e := range evs.Items {
				t.Logf("event %s %s: %s", e.InvolvedObject.Name, e.Reason, e.Message)
			}
			eps, _ := cs.DiscoveryV1().EndpointSlices(ns).List(context.Background(), metav1.ListOptions{})
			for _, e := range eps.Items {
				t.Logf("slice %s: %d endpoints ports %v", e.Name, len(e.Endpoints), e.Ports)
			}
		}
	}()
	testutil.WaitFor(t, 20*time.Second, "initial endpoints", func() bool {
		return c1.c.Stats().Updates >= services*streams && c2.c.Stats().Updates >= services*streams && endpointsHeld(c1.c) == services*streams*minRep
	})

	start := time.Now()
	runDone := make(chan error, 1)
	go func() { runDone <- ch.Run(ctx) }()
	// Restart the plain server during the first hold at max, once the
	// cluster reached it.
	testutil.WaitFor(t, time.Minute, "first wave converged", func() bool {
		return len(obs.Records().KubeConvergence) >= services
	})
	time.Sleep(time.Second)
	before := c1.c.Stats().Reconnects
	plain.restart(t)
	t.Logf("plain server restarted %s into the run", time.Since(start).Round(time.Millisecond))
	if err := <-runDone; err != nil {
		t.Fatal(err)
	}
	t.Logf("churn done after %s", time.Since(start).Round(time.Millisecond))
	for _, c := range []*runningClient{c1, c2, c3} {
		c.stop()
	}
	obs.Finish()

	set := record.Merge(ch.Records(), obs.Records(), c1.c.Records(), c2.c.Records())
	checkChurnAndObserver(t, set, names)

	// Every stream converged on every event, through the restart.
	events := len(set.ScaleEvents)
	plainSet := record.Merge(ch.Records(), obs.Records(), c1.c.Records())
	a := record.Analyze(plainSet)
	if len(plainSet.StreamConvergence) != events*streams {
		t.Errorf("plain client: %d stream convergence records, want %d events x %d streams", len(plainSet.StreamConvergence), events, streams)
	}
	for _, e := range a.Events {
		if !e.FanoutComplete || e.Converged != streams {
			t.Errorf("event %s #%d: %+v", e.Service, e.Seq, e)
		} else {
			t.Logf("event %s #%d -> %d: k8s %s, fanout %s", e.Service, e.Seq, e.Target, e.KubeConvergence.Round(time.Millisecond), e.FanoutCompletion.Round(time.Millisecond))
		}
	}
	st := c1.c.Stats()
	if r := st.Reconnects - before; r < services*streams || st.Ends["Unavailable"] < services*streams {
		t.Errorf("after the restart: %d reconnects, ends %v; want >= %d reconnects and Unavailable ends", r, st.Ends, services*streams)
	}
	// The observer is before the client: it reads etcd, the test server
	// the API server's watch of it (in the full-size runs the smallest
	// latency was +53us). Allow the 5ms the report calls negative, for
	// the observer's goroutine waiting for a core on a loaded machine.
	const watchSkew = 5 * time.Millisecond
	if len(a.UpdateLatencies) == 0 || len(a.MissedUpdates) > 0 {
		t.Errorf("plain client: %d update latencies, %d missed (%+v)", len(a.UpdateLatencies), len(a.MissedUpdates), a.MissedUpdates)
	}
	var plainLat []time.Duration
	for _, l := range a.UpdateLatencies {
		plainLat = append(plainLat, l.Latency)
		if l.Latency < -watchSkew {
			t.Errorf("stream %d received %s %v at %s, %s before the observer saw it", l.Stream, l.Addr, l.Ready, l.Received.Format(time.StampMicro), -l.Latency)
		}
	}
	t.Logf("plain server update latency: %s", summary(plainLat))

	// Through the delayed server update latency is the plain server's plus
	// the delay: both servers are informers of one API server, so what the
	// API server takes to pass a change on (the observer reads etcd, before
	// it) is in both and cancels in the difference.
	a2 := record.Analyze(record.Merge(ch.Records(), obs.Records(), c2.c.Records()))
	var lat []time.Duration
	for _, l := range a2.UpdateLatencies {
		lat = append(lat, l.Latency)
	}
	t.Logf("delayed server (%s) update latency: %s", delay, summary(lat))
	if len(lat) == 0 || len(a2.MissedUpdates) > 0 || len(plainLat) == 0 {
		t.Fatalf("delayed client: %d update latencies, %d missed", len(lat), len(a2.MissedUpdates))
	}
	slices.Sort(lat)
	slices.Sort(plainLat)
	q := func(l []time.Duration, f float64) time.Duration { return l[int(f*float64(len(l)-1))] }
	if d := q(lat, 0.5) - q(plainLat, 0.5); d < delay-5*time.Millisecond || d > delay+5*time.Millisecond {
		t.Errorf("median update latency %s through a server delaying %s, %s through the plain one: the difference %s is not the delay within 5ms",
			q(lat, 0.5), delay, q(plainLat, 0.5), d)
	}
	// The tail is the loaded machine's scheduling, not the instrument: in
	// CI beside other packages' clusters p95 came out 23ms above the delay
	// while the median stayed within 2ms.
	if lat[0] < delay-watchSkew || q(lat, 0.95) > delay+q(plainLat, 0.95)+50*time.Millisecond {
		t.Errorf("update latency min %s p95 %s through a server delaying %s (plain server p95 %s)", lat[0], q(lat, 0.95), delay, q(plainLat, 0.95))
	}

	// The unknown service: NotFound, counted, retried.
	if n := c3.c.Stats().Ends["NotFound"]; n < streams {
		t.Errorf("unknown service: %d NotFound ends, want >= %d", n, streams)
	}
	if _, _, notFound, _ := plain.srv.Counters(); notFound < streams {
		t.Errorf("server answered NotFound %d times, want >= %d", notFound, streams)
	}
}

func endpointsHeld(c *client.Client) int {
	n := 0
	for _, r := range c.Records().Receipts {
		if r.Add {
			n++
		} else {
			n--
		}
	}
	return n
}

// checkChurnAndObserver: every event written, reached by the cluster, and
// every observed change after the write of the event it belongs to.
func checkChurnAndObserver(t *testing.T, set record.Set, names []string) {
	t.Helper()
	if len(set.ScaleFailures) > 0 {
		t.Errorf("scale failures: %+v", set.ScaleFailures)
	}
	if want := len(names) * 4; len(set.ScaleEvents) != want {
		t.Errorf("%d scale events, want %d (2 cycles x 2 waves x %d services)", len(set.ScaleEvents), want, len(names))
	}
	reached := map[string]bool{}
	for _, k := range set.KubeConvergence {
		if !k.Reached {
			t.Errorf("cluster did not reach %s #%d target %d", k.Service, k.Seq, k.Target)
		}
		reached[fmt.Sprintf("%s#%d", k.Service, k.Seq)] = true
	}
	bySvc := map[string][]record.ScaleEvent{}
	for _, e := range set.ScaleEvents {
		if !reached[fmt.Sprintf("%s#%d", e.Service, e.Seq)] {
			t.Errorf("no k8s convergence for %s #%d", e.Service, e.Seq)
		}
		bySvc[e.Service] = append(bySvc[e.Service], e)
	}
	changes := 0
	for _, c := range set.EndpointChanges {
		if c.Initial {
			continue
		}
		changes++
		// The write that caused the change is the service's latest one
		// before it: scaling up makes endpoints ready, down makes them go.
		var cause *record.ScaleEvent
		for i, e := range bySvc[c.Service] {
			if e.Time.Before(c.Time) && (cause == nil || e.Time.After(cause.Time)) {
				cause = &bySvc[c.Service][i]
			}
		}
		if cause == nil || (cause.Target == maxRep) != c.Ready {
			t.Errorf("observer saw %s %s ready=%v at %s; latest write before it: %+v", c.Service, c.Addr, c.Ready, c.Time.Format(time.StampMicro), cause)
		}
	}
	// Each service: +3, -3 per cycle, 2 cycles.
	if want := len(names) * 2 * 2 * (maxRep - minRep); changes != want {
		t.Errorf("observer recorded %d endpoint changes, want %d", changes, want)
	}
}

func summary(ds []time.Duration) string {
	if len(ds) == 0 {
		return "none"
	}
	s := slices.Clone(ds)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	q := func(p float64) time.Duration { return s[int(p*float64(len(s)-1))].Round(10 * time.Microsecond) }
	return fmt.Sprintf("n=%d min %s p50 %s p95 %s max %s", len(s), q(0), q(0.5), q(0.95), q(1))
}
