package runner

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
)

// Client nodes: on the local provider the client processes run inside
// dstload, but the destination controller groups subscribers by the node
// their context token names (linkerd2 #15166) and reads that Node's zone.
// So every client process names a real Node: KWOK fake nodes made for the
// run's clients, kept apart from the targets' nodes (no type=kwok label,
// and tainted, so nothing is scheduled onto them).
const (
	// clientNodeLabel marks the nodes a run made for its clients, with
	// the run's namespace as value, so that cleanup removes only those.
	clientNodeLabel = "dstload.io/client-nodes"
	// KWOK manages nodes carrying this annotation (the local provider
	// starts kwok with --manage-nodes-with-annotation-selector on it).
	kwokNodeAnnotation = "kwok.x-k8s.io/node"
	kwokNodeValue      = "fake"
)

// clientNodeName is client node i of the run in namespace.
func clientNodeName(namespace string, i int) string {
	return fmt.Sprintf("%s-client-%03d", namespace, i)
}

// clientNodeNames are the nodes of n client nodes.
func clientNodeNames(namespace string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = clientNodeName(namespace, i)
	}
	return out
}

// zoneOf is node i's zone label value with zones zones ("" = no label).
func zoneOf(i, zones int) string {
	if zones <= 0 {
		return ""
	}
	return fmt.Sprintf("zone-%d", i%zones)
}

func clientNode(namespace string, i, zones int) *corev1.Node {
	name := clientNodeName(namespace, i)
	labels := map[string]string{
		clientNodeLabel:                 namespace,
		corev1.LabelHostname:            name,
		corev1.LabelOSStable:            "linux",
		corev1.LabelArchStable:          "amd64",
		"node-role.kubernetes.io/agent": "",
	}
	if z := zoneOf(i, zones); z != "" {
		labels[corev1.LabelTopologyZone] = z
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels,
			Annotations: map[string]string{kwokNodeAnnotation: kwokNodeValue, "node.alpha.kubernetes.io/ttl": "0"}},
		Spec: corev1.NodeSpec{Taints: []corev1.Taint{{Key: kwokNodeAnnotation, Value: kwokNodeValue, Effect: corev1.TaintEffectNoSchedule}}},
	}
}

// ensureClientNodes makes the run's n client nodes (zone labels as asked)
// where missing and fixes the labels of those left by an earlier --keep
// run. It returns their names, in the order processes are placed on them.
func ensureClientNodes(ctx context.Context, cs kubernetes.Interface, namespace string, n, zones int) ([]string, error) {
	for i := range n {
		want := clientNode(namespace, i, zones)
		got, err := cs.CoreV1().Nodes().Get(ctx, want.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			if _, err := cs.CoreV1().Nodes().Create(ctx, want, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				return nil, fmt.Errorf("create client node %s: %w", want.Name, err)
			}
		case err != nil:
			return nil, fmt.Errorf("get client node %s: %w", want.Name, err)
		case got.Labels[clientNodeLabel] != namespace:
			return nil, fmt.Errorf("node %s exists and is not a dstload client node of namespace %s; pick another --namespace", want.Name, namespace)
		case !maps.Equal(got.Labels, want.Labels):
			// kwok writes the node's status all the time: an update from a
			// read a moment old can conflict, so read again and retry.
			err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
				cur, err := cs.CoreV1().Nodes().Get(ctx, want.Name, metav1.GetOptions{})
				if err != nil {
					return err
				}
				cur.Labels = want.Labels
				_, err = cs.CoreV1().Nodes().Update(ctx, cur, metav1.UpdateOptions{})
				return err
			})
			if err != nil {
				return nil, fmt.Errorf("relabel client node %s: %w", want.Name, err)
			}
		}
	}
	return clientNodeNames(namespace, n), nil
}

// removeClientNodes deletes every client node of the run in namespace.
func removeClientNodes(ctx context.Context, cs kubernetes.Interface, namespace string) error {
	list, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: clientNodeLabel + "=" + namespace})
	if err != nil {
		return fmt.Errorf("list client nodes: %w", err)
	}
	var errs []error
	for _, n := range list.Items {
		if err := cs.CoreV1().Nodes().Delete(ctx, n.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete client node %s: %w", n.Name, err))
		}
	}
	return errors.Join(errs...)
}

// clientNodes makes the scenario's client nodes for the in-process
// clients and returns their names and the cleanup that removes them
// (nil with --keep).
func (r *run) clientNodes(ctx context.Context, tg *Targets) ([]string, func() error, error) {
	s := r.cfg.Scenario
	cs := r.clientsCS()
	names, err := ensureClientNodes(ctx, cs, tg.Namespace, s.ClientNodes(), s.Clients.Zones)
	cleanup := func() error {
		if r.cfg.Keep {
			return nil
		}
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		return removeClientNodes(cctx, cs, tg.Namespace)
	}
	if err != nil {
		return nil, cleanup, err
	}
	r.progressf("%d client processes on %d client nodes", s.Clients.Processes, len(names))
	return names, cleanup, nil
}
