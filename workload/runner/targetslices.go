package runner

import (
	"context"
	"fmt"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// sliceCount is what the targets' EndpointSlices list: each service's
// distinct ready addresses (what the destination controller serves), and
// how many ready entries repeat an address of their service (two pods
// given one IP: the Deployments count both, a stream holds one).
type sliceCount struct{ ready, repeated int }

// countSlices reads the targets' EndpointSlices in their namespace.
func (t *Targets) countSlices(ctx context.Context, cs kubernetes.Interface) (sliceCount, error) {
	list, err := cs.DiscoveryV1().EndpointSlices(t.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return sliceCount{}, fmt.Errorf("list the targets' endpointslices: %w", err)
	}
	ours := map[string]map[string]bool{}
	for _, n := range t.Names() {
		ours[n] = map[string]bool{}
	}
	var c sliceCount
	for _, es := range list.Items {
		seen, ok := ours[es.Labels[discoveryv1.LabelServiceName]]
		if !ok {
			continue
		}
		for _, e := range es.Endpoints {
			if e.Conditions.Ready != nil && !*e.Conditions.Ready {
				continue
			}
			for _, a := range e.Addresses {
				if seen[a] {
					c.repeated++
					continue
				}
				seen[a] = true
				c.ready++
			}
		}
	}
	return c, nil
}

// String says what the slices list against want endpoints.
func (c sliceCount) String(want int) string {
	s := fmt.Sprintf("the EndpointSlices list %d of %d ready endpoints", c.ready, want)
	if c.repeated > 0 {
		s += fmt.Sprintf(", and %d more ready entries repeat an address (pods sharing an IP)", c.repeated)
	}
	return s
}
