package k3d

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/dstload/dstload/provision"
	"github.com/dstload/dstload/provision/fakenode"
)

func clientset(kubeconfig, kubeContext string) (*kubernetes.Clientset, error) {
	cfg, err := provision.RESTConfig(kubeconfig, kubeContext)
	if err != nil {
		return nil, err
	}
	cfg.Timeout = 10 * time.Second
	return kubernetes.NewForConfig(cfg)
}

// apiReady asks the API server's /readyz.
func apiReady(ctx context.Context, kubeconfig, kubeContext string) error {
	cs, err := clientset(kubeconfig, kubeContext)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err = cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	return err
}

// prepareNodes waits until the k3s server node is Ready and pods can be
// created (default ServiceAccount), then creates the KWOK fake nodes. They
// turn Ready once the stack has installed the kwok controller, which
// manages nodes annotated kwok.x-k8s.io/node=fake.
func prepareNodes(ctx context.Context, kubeconfig, kubeContext string, n int, timeout time.Duration) error {
	cs, err := clientset(kubeconfig, kubeContext)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var detail string
	for {
		detail = serverNotReady(wctx, cs)
		if detail == "" {
			break
		}
		select {
		case <-wctx.Done():
			if errors.Is(context.Cause(ctx), context.Canceled) {
				return ctx.Err()
			}
			return fmt.Errorf("k3d cluster not ready after %s: %s", timeout, detail)
		case <-time.After(500 * time.Millisecond):
		}
	}
	return fakenode.Ensure(ctx, cs, n)
}

// serverNotReady says what is not ready yet ("" = ready).
func serverNotReady(ctx context.Context, cs kubernetes.Interface) string {
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: "node-role.kubernetes.io/control-plane=true"})
	if err != nil {
		return err.Error()
	}
	ready := false
	for _, n := range nodes.Items {
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				ready = true
			}
		}
	}
	if !ready {
		return "k3s server node not Ready"
	}
	if _, err := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{}); err != nil {
		return "default ServiceAccount: " + err.Error()
	}
	return ""
}
