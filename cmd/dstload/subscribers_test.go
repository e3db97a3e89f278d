package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/dstload/dstload/provision"
	"github.com/dstload/dstload/provision/local/localtest"
	"github.com/dstload/dstload/workload/report"
)

// sweepScenario is subscriber-cost at CI size: 2 services x 5 endpoints,
// streams stepped 0/10/20/40 over 4 client processes on 2 nodes in 2
// zones, short holds.
const sweepScenario = `
name: subscriber-cost-ci
services:
  count: 2
  endpoints: 5
churn:
  pattern: stable
clients:
  streams: 40
  processes: 4
  nodes: 2
  zones: 2
sweep:
  steps: [0, 10, 20, 40]
  hold: 4s
  window: 3s
  maxHold: 30s
criteria:
  - metric: stream_errors
    max: 0
  - metric: subscriptions_held
    min: 100%
  - metric: heap_per_subscriber
    max: 1MiB
`

// TestRealSubscriberSweep runs a subscriber sweep against Linkerd's real
// destination controller (DSTLOAD_DESTINATION_BIN): the clients sit on real
// KWOK client nodes, the controller's own endpoints_subscribers series
// show one filter group per (service, node), every step has a heap
// profile, and the fit has a positive slope with its R² reported.
func TestRealSubscriberSweep(t *testing.T) {
	localtest.RequireBinaries(t)
	bin := localtest.RealDestination(t)
	dir := t.TempDir()
	out := t.TempDir()
	env := []string{"--state-dir", dir, "--name", "sweep"}
	t.Cleanup(func() { runCLI(t, append([]string{"down"}, env...)...) })
	if code, stdout, stderr := runCLI(t, append([]string{"up", "--provider", "local", "--nodes", "1", "--destination-bin", bin}, env...)...); code != 0 {
		t.Fatalf("up: exit %d\n%s\n%s", code, stdout, stderr)
	}
	file := filepath.Join(t.TempDir(), "sweep.yaml")
	if err := os.WriteFile(file, []byte(sweepScenario), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	code, stdout, stderr := runCLI(t, append([]string{"run", file, "--out", out, "--metrics-interval", "500ms", "--ready-timeout", "2m"}, env...)...)
	t.Logf("sweep ran in %s", time.Since(start).Round(time.Second))
	if code != 0 {
		dumpTargets(t, dir, "sweep")
		t.Fatalf("run: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	r, err := report.ReadFile(filepath.Join(out, report.JSONFile))
	if err != nil {
		t.Fatal(err)
	}
	sw := r.Sweep
	if sw == nil || len(sw.Steps) != 4 || sw.Heap == nil || sw.RSS == nil {
		t.Fatalf("sweep %+v", sw)
	}
	for i, st := range sw.Steps {
		if st.Subscribers != float64(st.Streams) || st.Samples < report.MinWindowSamples || st.ProfileInuseBytes <= 0 || st.HeapAfterGCBytes <= 0 {
			t.Errorf("step %d: %+v", i, st)
		}
		if _, err := os.Stat(filepath.Join(out, "heap-step"+string(rune('1'+i))+".pb.gz")); err != nil {
			t.Errorf("step %d heap profile: %v", i, err)
		}
	}
	// The controller serves pprof (dstload up passes -enable-pprof), so
	// the heap fit is the live heap after each step's forced GC.
	if sw.HeapSource != report.HeapAfterGC || sw.Heap.SlopeBytesPerSubscriber <= 0 || sw.Heap.R2 <= 0 || sw.Profile == nil || sw.HeapWindow == nil {
		t.Errorf("fits: heap (%s) %+v profile %+v window %+v", sw.HeapSource, *sw.Heap, sw.Profile, sw.HeapWindow)
	}
	t.Logf("heap: %+v; rss: %+v; live heap: %+v; unsteady steps %d", *sw.Heap, *sw.RSS, sw.Profile, sw.Unsteady)
	if !strings.Contains(stdout, "sweep: 4 steps") || !strings.Contains(stdout, "R² ") {
		t.Errorf("summary lacks the sweep line:\n%s", stdout)
	}
	if _, err := os.Stat(filepath.Join(out, report.PlotSweep+".svg")); err != nil {
		t.Errorf("sweep plot: %v", err)
	}
	// Two client nodes, so 2 services x 2 nodes = 4 filter keys, and the
	// controller itself kept 4 groups on 2 nodes (endpoints_subscribers'
	// nodename label).
	s := r.Subscribers
	if s == nil || len(s.Nodes) != 2 || s.FilterKeys != 4 || s.StreamsPerKeyMin != 10 || s.StreamsPerKeyMax != 10 ||
		s.ControllerGroups != 4 || s.ControllerNodes != 2 || !s.Memory.OK {
		t.Errorf("subscribers %+v", s)
	}
	// The client nodes are gone with the run.
	st, err := provision.LoadState(filepath.Join(dir, "sweep"))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := provision.RESTConfig(st.Cluster("").Kubeconfig, st.Cluster("").Context)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := cs.CoreV1().Nodes().List(t.Context(), metav1.ListOptions{LabelSelector: "dstload.io/client-nodes"})
	if err != nil || len(nodes.Items) != 0 {
		t.Errorf("client nodes left: %v (err %v)", nodes, err)
	}
}

// dumpTargets logs the run namespace's pods (node, IP, ready) and the
// endpoints of its EndpointSlices: what a run that waited for endpoints
// in vain saw in the cluster.
func dumpTargets(t *testing.T, dir, name string) {
	t.Helper()
	st, err := provision.LoadState(filepath.Join(dir, name))
	if err != nil {
		t.Logf("dump: %v", err)
		return
	}
	rc, err := provision.RESTConfig(st.Cluster("").Kubeconfig, st.Cluster("").Context)
	if err != nil {
		t.Logf("dump: %v", err)
		return
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Logf("dump: %v", err)
		return
	}
	ctx := context.Background()
	pods, err := cs.CoreV1().Pods("dstload-run").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Logf("dump: %v", err)
		return
	}
	for _, p := range pods.Items {
		ready := false
		for _, c := range p.Status.Conditions {
			ready = ready || (c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue)
		}
		t.Logf("pod %s node %s ip %q phase %s ready %v deleting %v", p.Name, p.Spec.NodeName, p.Status.PodIP, p.Status.Phase, ready, p.DeletionTimestamp != nil)
	}
	slices, err := cs.DiscoveryV1().EndpointSlices("dstload-run").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Logf("dump: %v", err)
		return
	}
	for _, es := range slices.Items {
		for _, e := range es.Endpoints {
			pod := ""
			if e.TargetRef != nil {
				pod = e.TargetRef.Name
			}
			t.Logf("slice %s: %v pod %s ready %v", es.Name, e.Addresses, pod, e.Conditions.Ready != nil && *e.Conditions.Ready)
		}
	}
}
