package runner

import (
	"context"
	"testing"
	"time"

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
		Count: 2, Replicas: 3, Log: testLog(t)}
	start := time.Now()
	if err := tg.Install(ctx, c.Clientset); err != nil {
		t.Fatal(err)
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
		cs, err := newClients(Config{Scenario: s, DestinationAddr: addr, Log: testLog(t)}, tg)
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
	})

	if err := tg.Uninstall(context.Background(), c.Clientset); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Clientset.CoreV1().Namespaces().Get(ctx, tg.Namespace, metav1.GetOptions{}); err == nil {
		t.Fatalf("namespace %s still there after Uninstall", tg.Namespace)
	}
}
