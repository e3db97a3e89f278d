package link

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

// LinkGVR is the Link resource (CRD links.multicluster.linkerd.io, from the
// linkerd-multicluster chart).
var LinkGVR = schema.GroupVersionResource{Group: "multicluster.linkerd.io", Version: "v1alpha3", Resource: "links"}

// linkObject is the Link link-gen writes with --gateway=false (a flat
// network, pod to pod): no gateway, no probe, no gateway-mode selector
// (an absent selector matches nothing), the default remote-discovery and
// federated selectors.
func (c *Credentials) linkObject() *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": LinkGVR.GroupVersion().String(),
		"kind":       "Link",
		"metadata":   map[string]any{"name": c.Target, "namespace": MulticlusterNamespace},
		"spec": map[string]any{
			"targetClusterName":             c.Target,
			"targetClusterDomain":           c.ClusterDomain,
			"targetClusterLinkerdNamespace": ControlPlaneNamespace,
			"clusterCredentialsSecret":      SecretName(c.Target),
			"remoteDiscoverySelector": map[string]any{
				"matchLabels": map[string]any{"mirror.linkerd.io/exported": "remote-discovery"},
			},
			"federatedServiceSelector": map[string]any{
				"matchLabels": map[string]any{"mirror.linkerd.io/federated": "member"},
			},
		},
	}}
}

// EnsureLink creates the Link, or replaces its spec when it differs (the
// service-mirror restarts its watch of the target on every Link update).
func EnsureLink(ctx context.Context, dc dynamic.Interface, c *Credentials) error {
	links := dc.Resource(LinkGVR).Namespace(MulticlusterNamespace)
	want := c.linkObject()
	have, err := links.Get(ctx, c.Target, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		if _, err := links.Create(ctx, want, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create Link %s/%s: %w", MulticlusterNamespace, c.Target, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("read Link %s/%s: %w", MulticlusterNamespace, c.Target, err)
	}
	// Only the fields dstload sets: the API server adds the CRD's defaults.
	haveSpec, _ := have.Object["spec"].(map[string]any)
	same := haveSpec != nil
	for k, v := range want.Object["spec"].(map[string]any) {
		same = same && fmt.Sprint(haveSpec[k]) == fmt.Sprint(v)
	}
	if same {
		return nil
	}
	have.Object["spec"] = want.Object["spec"]
	if _, err := links.Update(ctx, have, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update Link %s/%s: %w", MulticlusterNamespace, c.Target, err)
	}
	return nil
}
