package kubeconfig_test

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dstload/dstload/internal/testutil"
	"github.com/dstload/dstload/provision"
	"github.com/dstload/dstload/provision/kubeconfig"
	"github.com/dstload/dstload/provision/local/localtest"
)

func env(t *testing.T) *provision.Lifecycle {
	reg := provision.NewRegistry()
	reg.Register(kubeconfig.ProviderName, kubeconfig.Factory)
	return &provision.Lifecycle{
		Env:       provision.Env{Name: "kc", Dir: filepath.Join(t.TempDir(), "kc"), Log: testutil.Discard(), Progress: io.Discard},
		Providers: reg,
	}
}

func TestRefusesWithoutContext(t *testing.T) {
	_, err := env(t).Up(context.Background(), kubeconfig.ProviderName, provision.Config{Kubeconfig: "/nonexistent"})
	if err == nil || !strings.Contains(err.Error(), "--context") {
		t.Fatalf("got %v, want a refusal naming --context", err)
	}
}

// TestExistingCluster uses a real local cluster as "the user's cluster": up
// records it, status checks it, down forgets it and leaves it running.
func TestExistingCluster(t *testing.T) {
	c := localtest.Start(t, localtest.Options{Nodes: 1})
	ctx := context.Background()

	e := env(t)
	if _, err := e.Up(ctx, kubeconfig.ProviderName, provision.Config{Kubeconfig: c.Kubeconfig, Context: "nosuch"}); err == nil || !strings.Contains(err.Error(), `"nosuch"`) {
		t.Fatalf("unknown context: %v", err)
	}
	res, err := e.Up(ctx, kubeconfig.ProviderName, provision.Config{Kubeconfig: c.Kubeconfig, Context: c.Context, DestinationAddr: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	cl := res.State.Cluster("")
	if cl.Kubeconfig != c.Kubeconfig || cl.Context != c.Context || cl.Server != c.Server || cl.DestinationAddr != "127.0.0.1:1" {
		t.Fatalf("recorded cluster %+v", cl)
	}
	rep, err := e.Status(ctx)
	if err != nil || !rep.Healthy {
		t.Fatalf("status %v %+v", err, rep)
	}
	if _, err := e.Down(ctx); err != nil {
		t.Fatal(err)
	}
	// The cluster is untouched.
	nodes, err := c.Clientset.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil || len(nodes.Items) != 1 {
		t.Fatalf("cluster after down: %v nodes, err %v", len(nodes.Items), err)
	}
}
