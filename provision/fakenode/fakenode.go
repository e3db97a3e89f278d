// Package fakenode is the shape of dstload's KWOK fake nodes, the same on
// every provider (Linkerd's hack/kwok-node.yaml): label type=kwok,
// annotation and NoSchedule taint kwok.x-k8s.io/node=fake, a /16 pod CIDR
// of its own and allocatable large enough for thousands of pods. The kwok
// controller manages the nodes that carry the annotation; workloads select
// them with Selector and tolerate them with Toleration.
package fakenode

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// The label, annotation and taint of a fake node.
const (
	LabelKey      = "type"
	LabelValue    = "kwok"
	AnnotationKey = "kwok.x-k8s.io/node"
	TaintKey      = "kwok.x-k8s.io/node"
	TaintValue    = "fake"
)

// Max bounds the number of fake nodes: each gets its own /16 pod CIDR out
// of 10.128.0.0/9.
const Max = 128

// Name is the name of fake node i.
func Name(i int) string { return fmt.Sprintf("kwok-node-%d", i) }

// PodCIDR is fake node i's pod CIDR: a /16 per node (65,534 addresses), so
// that far more than 10,000 pods get unique IPs on any number of nodes, and
// clear of k3s' 10.42.0.0/16.
func PodCIDR(i int) string { return fmt.Sprintf("10.%d.0.0/16", 128+i) }

// Selector is the nodeSelector of a workload that runs on the fake nodes.
func Selector() map[string]string { return map[string]string{LabelKey: LabelValue} }

// Toleration lets a workload onto the fake nodes.
func Toleration() corev1.Toleration {
	return corev1.Toleration{Key: TaintKey, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}
}

// New is fake node i.
func New(i int) *corev1.Node { return NewInCluster(i, 0) }

// NewInCluster is fake node i of the cluster-th cluster of an environment
// (0 or 1). Linked clusters split the pod range, each node keeping its own
// /16: the first cluster's nodes take 10.128-10.191, the second's
// 10.192-10.255, so that an endpoint address names one pod in either (a
// federated Service's endpoints are the union of both clusters').
func NewInCluster(i, cluster int) *corev1.Node {
	cidr := PodCIDR(i + cluster*Max/2)
	name := Name(i)
	res := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("1000"),
		corev1.ResourceMemory: resource.MustParse("4Ti"),
		corev1.ResourcePods:   resource.MustParse("65000"),
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: name,
			Labels: map[string]string{
				LabelKey:                        LabelValue,
				"kubernetes.io/hostname":        name,
				"kubernetes.io/os":              "linux",
				"kubernetes.io/arch":            "amd64",
				"kubernetes.io/role":            "agent",
				"node-role.kubernetes.io/agent": "",
			},
			Annotations: map[string]string{
				AnnotationKey:                  TaintValue,
				"node.alpha.kubernetes.io/ttl": "0",
			},
		},
		Spec: corev1.NodeSpec{
			PodCIDR:  cidr,
			PodCIDRs: []string{cidr},
			Taints:   []corev1.Taint{{Key: TaintKey, Value: TaintValue, Effect: corev1.TaintEffectNoSchedule}},
		},
		Status: corev1.NodeStatus{Capacity: res, Allocatable: res},
	}
}

// Ensure creates fake nodes 0 to n-1 where they do not exist yet.
func Ensure(ctx context.Context, cs kubernetes.Interface, n int) error {
	return EnsureInCluster(ctx, cs, n, 0)
}

// EnsureInCluster creates the cluster-th cluster's fake nodes 0 to n-1
// (NewInCluster) where they do not exist yet.
func EnsureInCluster(ctx context.Context, cs kubernetes.Interface, n, cluster int) error {
	for i := 0; i < n; i++ {
		_, err := cs.CoreV1().Nodes().Create(ctx, NewInCluster(i, cluster), metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create fake node %s: %w", Name(i), err)
		}
	}
	return nil
}

// CountReady counts the fake nodes a pod can be scheduled onto now.
func CountReady(ctx context.Context, cs kubernetes.Interface) (int, error) {
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: LabelKey + "=" + LabelValue})
	if err != nil {
		return 0, err
	}
	ready := 0
	for i := range nodes.Items {
		if Ready(&nodes.Items[i]) {
			ready++
		}
	}
	return ready, nil
}

// Ready reports whether a node is Ready and carries no not-ready or
// unreachable taint, i.e. a pod can be scheduled onto it now.
func Ready(n *corev1.Node) bool {
	ready := false
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
			ready = true
		}
	}
	for _, t := range n.Spec.Taints {
		if t.Key == corev1.TaintNodeNotReady || t.Key == corev1.TaintNodeUnreachable {
			return false
		}
	}
	return ready
}
