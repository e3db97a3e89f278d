package fakenode

import (
	"fmt"
	"testing"
)

// Linked clusters' fake nodes never share a pod range.
func TestNewInClusterSplitsRange(t *testing.T) {
	seen := map[string]string{}
	for cluster := range 2 {
		for i := range Max / 2 {
			n := NewInCluster(i, cluster)
			if prev, ok := seen[n.Spec.PodCIDR]; ok {
				t.Fatalf("%s of cluster %d is also %s's", n.Spec.PodCIDR, cluster, prev)
			}
			seen[n.Spec.PodCIDR] = fmt.Sprintf("cluster %d node %d", cluster, i)
		}
	}
	if New(3).Spec.PodCIDR != PodCIDR(3) {
		t.Error("a single cluster's nodes changed their ranges")
	}
}
