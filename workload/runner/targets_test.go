package runner

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dstload/dstload/provision/local/localtest"
)

// TestTargets installs the chart's static part on a real local cluster,
// waits for the fake pods, and removes it again.
func TestTargets(t *testing.T) {
	c := localtest.Start(t, localtest.Options{Nodes: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	tg := &Targets{Kubeconfig: c.Kubeconfig, Context: c.Context, Namespace: "dstload-test", Release: "dstload-test",
		Count: 2, Replicas: 3, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
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
	if err := tg.Uninstall(context.Background(), c.Clientset); err != nil {
		t.Fatal(err)
	}
	ns, err := c.Clientset.CoreV1().Namespaces().Get(ctx, tg.Namespace, metav1.GetOptions{})
	if err == nil && ns.DeletionTimestamp == nil {
		t.Fatalf("namespace %s still there and not terminating", tg.Namespace)
	}
}
