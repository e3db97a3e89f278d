package runner

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dstload/dstload/internal/dsttest"
	"github.com/dstload/dstload/provision/local/localtest"
	"github.com/dstload/dstload/workload/scenario"
)

// TestTargetsAndClients installs the chart's static part on a real local
// cluster, opens the run's in-process clients on it through the test
// Destination server until every stream holds every endpoint, and removes
// the targets again.
func TestTargetsAndClients(t *testing.T) {
	c := localtest.Start(t, localtest.Options{Nodes: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	tg := &Targets{Kubeconfig: c.Kubeconfig, Context: c.Context, Namespace: "dstload-test", Release: "dstload-test",
		Count: 2, Replicas: 3, Log: testLog(t), NoInjection: true}
	start := time.Now()
	if err := tg.Install(ctx, c.Clientset); err != nil {
		t.Fatal(err)
	}
	// No pod runs here: Linkerd's injector webhook must skip the namespace.
	if ns, err := c.Clientset.CoreV1().Namespaces().Get(ctx, tg.Namespace, metav1.GetOptions{}); err != nil || ns.Labels[noInjectionLabel] != "disabled" {
		t.Fatalf("namespace %s labels %v (err %v), want %s=disabled", tg.Namespace, ns.GetLabels(), err, noInjectionLabel)
	}
	if err := tg.Install(ctx, c.Clientset); err == nil {
		t.Fatal("second install of the same release succeeded")
	}
	var last [2]int
	if err := tg.Ready(ctx, c.Clientset, func(r, d int) { last = [2]int{r, d} }); err != nil {
		t.Fatal(err)
	}
	t.Logf("targets ready in %s", time.Since(start))
	if last != [2]int{6, 6} {
		t.Fatalf("last progress %v, want 6 of 6", last)
	}
	svcs, err := c.Clientset.CoreV1().Services(tg.Namespace).List(ctx, metav1.ListOptions{LabelSelector: tg.Selector()})
	if err != nil || len(svcs.Items) != 2 || svcs.Items[0].Name != tg.Names()[0] {
		t.Fatalf("services %v, err %v", svcs, err)
	}

	t.Run("clients", func(t *testing.T) {
		_, addr := startDestination(t, c.Clientset, tg.Namespace, dsttest.Options{})
		s := &scenario.Scenario{Services: scenario.Services{Count: 2, Endpoints: 3},
			Clients: scenario.Clients{Streams: 8, Processes: 2, Connections: 1}}
		cs, err := newClients(Config{Scenario: s, DestinationAddr: addr, Log: testLog(t)}, tg, []string{"node-a", "node-b"})
		if err != nil {
			t.Fatal(err)
		}
		cctx, stop := context.WithCancel(ctx)
		done := make(chan struct{}, len(cs.list))
		for _, cl := range cs.list {
			go func() { cl.Run(cctx); done <- struct{}{} }()
		}
		if !waitFor(ctx, time.Minute, func() bool { return cs.endpointsHeld() == 8*3 }) {
			t.Fatalf("endpoints held %d, want %d; %+v", cs.endpointsHeld(), 8*3, cs.list[0].Stats())
		}
		if opened, streams, errs := cs.stats(); opened != 8 || streams != 8 || errs != 0 || cs.errorCauses() != "" {
			t.Fatalf("opened %d streams %d errors %d (%s)", opened, streams, errs, cs.errorCauses())
		}
		stop()
		for range cs.list {
			<-done
		}
		recs := cs.records()
		if len(recs) != 2 || len(recs[0].Streams) != 4 || recs[0].Streams[0].Client == recs[1].Streams[0].Client {
			t.Fatalf("records: %+v", recs)
		}
		// Client process i sits on node i % 2.
		for i, want := range []string{"node-a", "node-b"} {
			if got := recs[i].Sampling; len(got) != 1 || got[0].Node != want || got[0].Streams != 4 {
				t.Errorf("client %d sampling %+v, want node %s", i, got, want)
			}
		}
	})

	t.Run("client nodes", func(t *testing.T) {
		const ns = "dstload-nodes"
		names, err := ensureClientNodes(ctx, c.Clientset, ns, 3, 2)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{ns + "-client-000", ns + "-client-001", ns + "-client-002"}; !slices.Equal(names, want) {
			t.Fatalf("names %v, want %v", names, want)
		}
		// KWOK takes them over: Ready, like the targets' nodes.
		zones := map[string]string{}
		if !waitFor(ctx, 30*time.Second, func() bool {
			list, err := c.Clientset.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: clientNodeLabel + "=" + ns})
			if err != nil || len(list.Items) != 3 {
				return false
			}
			for _, n := range list.Items {
				zones[n.Name] = n.Labels[corev1.LabelTopologyZone]
				if n.Labels["type"] == "kwok" || !nodeIsReady(n) {
					return false
				}
			}
			return true
		}) {
			t.Fatalf("client nodes not Ready (or labelled for targets) in 30s; zones %v", zones)
		}
		if zones[names[0]] != "zone-0" || zones[names[1]] != "zone-1" || zones[names[2]] != "zone-0" {
			t.Errorf("zones %v", zones)
		}
		// Again, without zones: the same nodes, relabelled.
		if _, err := ensureClientNodes(ctx, c.Clientset, ns, 3, 0); err != nil {
			t.Fatal(err)
		}
		n, err := c.Clientset.CoreV1().Nodes().Get(ctx, names[1], metav1.GetOptions{})
		if err != nil || n.Labels[corev1.LabelTopologyZone] != "" {
			t.Fatalf("node %s after ensure without zones: labels %v, err %v", names[1], n.Labels, err)
		}
		// A node of that name that is not ours is refused, not taken.
		foreign := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: clientNodeName("dstload-other", 0)}}
		if _, err := c.Clientset.CoreV1().Nodes().Create(ctx, foreign, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := ensureClientNodes(ctx, c.Clientset, "dstload-other", 1, 0); err == nil || !strings.Contains(err.Error(), "not a dstload client node") {
			t.Errorf("foreign node: err %v", err)
		}
		if err := removeClientNodes(ctx, c.Clientset, ns); err != nil {
			t.Fatal(err)
		}
		list, err := c.Clientset.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var left []string
		for _, n := range list.Items {
			left = append(left, n.Name)
		}
		if slices.Contains(left, names[0]) || !slices.Contains(left, foreign.Name) {
			t.Errorf("nodes after remove: %v", left)
		}
	})

	// The in-cluster path's install on the same cluster: the whole chart
	// with the scenario's values, churn held at zero. Churn and client pods
	// never run here (only tainted fake nodes), which makes the pods-ready
	// timeout real.
	t.Run("in-cluster chart", func(t *testing.T) {
		s := &scenario.Scenario{Name: "x", Services: scenario.Services{Count: 2, Endpoints: 1},
			Churn:   scenario.Churn{Pattern: scenario.PatternOscillate, Min: 1, Max: 3, HoldMax: time.Second, HoldMin: time.Second, Cycles: 1},
			Clients: scenario.Clients{Streams: 4, Processes: 2, Connections: 1}}
		ic := &Targets{Kubeconfig: c.Kubeconfig, Context: c.Context, Namespace: "dstload-incluster", Release: "dstload-incluster",
			Count: 2, Replicas: 1, Log: testLog(t), Values: ChartValues(s, Image{}, ""), PostRenderer: holdChurn{}}
		if err := ic.Install(ctx, c.Clientset); err != nil {
			t.Fatal(err)
		}
		if ns, err := c.Clientset.CoreV1().Namespaces().Get(ctx, ic.Namespace, metav1.GetOptions{}); err != nil || ns.Labels[noInjectionLabel] != "" {
			t.Errorf("in-cluster namespace labels %v (err %v): pods run there, injection stays Linkerd's default", ns.GetLabels(), err)
		}
		deps, err := c.Clientset.AppsV1().Deployments(ic.Namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		replicas := map[string]int32{}
		for _, d := range deps.Items {
			replicas[d.Labels[componentLabel]] += *d.Spec.Replicas
		}
		if len(deps.Items) != 4 || replicas[componentChurn] != 0 || replicas[componentClient] != 2 || replicas["target"] != 2 {
			t.Fatalf("%d Deployments, replicas by component %v; want churn 0, client 2, target 2", len(deps.Items), replicas)
		}
		for _, kind := range []string{"roles", "serviceaccounts"} {
			var n int
			if kind == "roles" {
				l, err := c.Clientset.RbacV1().Roles(ic.Namespace).List(ctx, metav1.ListOptions{})
				if err != nil {
					t.Fatal(err)
				}
				n = len(l.Items)
			} else {
				l, err := c.Clientset.CoreV1().ServiceAccounts(ic.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + ic.Release})
				if err != nil {
					t.Fatal(err)
				}
				n = len(l.Items)
			}
			if n != 2 {
				t.Errorf("%d %s of the release, want churn's and client's", n, kind)
			}
		}
		start := time.Now()
		_, err = waitPodsReady(ctx, c.Clientset, ic.Namespace, ic.Release, componentClient, 2, 3*time.Second, nil)
		if err == nil || !strings.Contains(err.Error(), "client pods: 0 of 2 ready (not within 3s)") ||
			!strings.Contains(err.Error(), "pod dstload-incluster-dst-load-test-client-") || !strings.Contains(err.Error(), "PodScheduled=False Unschedulable") {
			t.Fatalf("waitPodsReady: %v", err)
		}
		if el := time.Since(start); el > 10*time.Second {
			t.Fatalf("waitPodsReady took %s with a 3s timeout", el)
		}
		t.Logf("pods-ready timeout: %v", err)
		if err := startChurn(ctx, c.Clientset, ic); err != nil {
			t.Fatal(err)
		}
		churnDep, err := c.Clientset.AppsV1().Deployments(ic.Namespace).Get(ctx, "dstload-incluster-dst-load-test-churn", metav1.GetOptions{})
		if err != nil || *churnDep.Spec.Replicas != 1 {
			t.Fatalf("churn after start: %v, err %v", churnDep.Spec.Replicas, err)
		}
		if err := ic.Uninstall(context.Background(), c.Clientset); err != nil {
			t.Fatal(err)
		}
	})

	// RunInCluster itself: it installs, waits for the targets, then fails
	// clearly on client pods that cannot start, and cleans up.
	t.Run("in-cluster run, pods never ready", func(t *testing.T) {
		s := &scenario.Scenario{Name: "x", Services: scenario.Services{Count: 1, Endpoints: 2},
			Churn:   scenario.Churn{Pattern: scenario.PatternStable, Duration: time.Second},
			Clients: scenario.Clients{Streams: 1, Processes: 1, Connections: 1}, Settle: time.Second}
		var progress strings.Builder
		const ns = "dstload-incluster-run"
		_, err := RunInCluster(ctx, Config{Scenario: s, Kubeconfig: c.Kubeconfig, Context: c.Context, Namespace: ns, Release: ns,
			ReadyTimeout: 3 * time.Second, OutDir: t.TempDir(), Log: testLog(t), Progress: &progress}, InCluster{})
		if err == nil || !strings.Contains(err.Error(), "client pods: 0 of 1 ready") || !strings.Contains(err.Error(), "Unschedulable") {
			t.Fatalf("RunInCluster: %v\n%s", err, progress.String())
		}
		for _, want := range []string{"] deploy", "] targets", "destination /metrics not sampled", "] connect", "] cleanup"} {
			if !strings.Contains(progress.String(), want) {
				t.Errorf("progress lacks %q:\n%s", want, progress.String())
			}
		}
		if _, err := c.Clientset.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err == nil {
			t.Errorf("namespace %s still there after the failed run", ns)
		}
	})

	if err := tg.Uninstall(context.Background(), c.Clientset); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Clientset.CoreV1().Namespaces().Get(ctx, tg.Namespace, metav1.GetOptions{}); err == nil {
		t.Fatalf("namespace %s still there after Uninstall", tg.Namespace)
	}
}

func nodeIsReady(n corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
