package link

import (
	"context"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/dstload/dstload/provision"
)

// State is what `dstload status` shows of a link.
type State struct {
	Source, Target string `json:"-"`
	// SecretPresent: the credentials Secret is in the source's control-plane
	// namespace with the type, label and kubeconfig the cluster store needs.
	SecretPresent bool   `json:"secretPresent"`
	SecretDetail  string `json:"secretDetail,omitempty"`
	// ClusterStoreSize is the source destination controller's gauge; -1
	// when it could not be read (StoreDetail says why).
	ClusterStoreSize int    `json:"clusterStoreSize"`
	StoreDetail      string `json:"storeDetail,omitempty"`
	// noAdmin: the controller's admin port is not reachable from the
	// host (a controller in a pod), so its gauge is not judged.
	noAdmin bool
	// RemoteReachable: the Secret's kubeconfig lists the target's pods
	// cluster-wide, as the controller's remote informers do.
	RemoteReachable bool   `json:"remoteReachable"`
	RemoteDetail    string `json:"remoteDetail,omitempty"`
}

// Healthy: Secret present, the controller holds the cluster, the target
// answers to the link's credentials.
func (s State) Healthy() bool {
	return s.SecretPresent && (s.ClusterStoreSize >= 1 || s.noAdmin) && s.RemoteReachable
}

// Component is the link's line of `dstload status`.
func (s State) Component() provision.ComponentStatus {
	c := provision.ComponentStatus{Cluster: s.Source, Name: "link/" + s.Target, Health: provision.Unhealthy}
	var parts []string
	if s.SecretPresent {
		parts = append(parts, "secret "+ControlPlaneNamespace+"/"+SecretName(s.Target)+" present")
	} else {
		parts = append(parts, "secret: "+s.SecretDetail)
	}
	if s.ClusterStoreSize >= 0 {
		parts = append(parts, fmt.Sprintf("cluster_store_size %d", s.ClusterStoreSize))
	} else {
		parts = append(parts, "cluster_store_size unknown: "+s.StoreDetail)
	}
	if s.RemoteReachable {
		parts = append(parts, "remote API reachable")
	} else {
		parts = append(parts, "remote API: "+s.RemoteDetail)
	}
	if s.Healthy() {
		c.Health = provision.Healthy
	} else if s.SecretPresent && s.ClusterStoreSize == 0 {
		parts = append(parts, "the controller did not add the cluster; 'dstload up' recreates the Secret")
	}
	c.Detail = strings.Join(parts, "; ")
	return c
}

// Check reads the link of tgt into src; it changes nothing.
func Check(ctx context.Context, src, tgt *provision.Cluster) State {
	s := State{Source: src.Name, Target: tgt.Name, ClusterStoreSize: -1}
	if src.DestinationAdminAddr == "" {
		s.StoreDetail, s.noAdmin = "the destination controller's admin port is not reachable from this host", true
	} else if n, err := ClusterStoreSize(ctx, src.DestinationAdminAddr); err != nil {
		s.StoreDetail = err.Error()
	} else {
		s.ClusterStoreSize = n
	}
	scs, _, err := clients(src)
	if err != nil {
		s.SecretDetail, s.RemoteDetail = err.Error(), "no credentials"
		return s
	}
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	sec, err := scs.CoreV1().Secrets(ControlPlaneNamespace).Get(cctx, SecretName(tgt.Name), metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		s.SecretDetail, s.RemoteDetail = "missing; 'dstload up' makes it", "no credentials"
		return s
	case err != nil:
		s.SecretDetail, s.RemoteDetail = err.Error(), "no credentials"
		return s
	case sec.Type != SecretType || sec.Labels[ClusterNameLabel] != tgt.Name || len(sec.Data[KubeconfigKey]) == 0:
		s.SecretDetail = "not a remote-kubeconfig Secret labelled for " + tgt.Name
	default:
		s.SecretPresent = true
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig(sec.Data[KubeconfigKey])
	if err != nil {
		s.RemoteDetail = "the Secret's kubeconfig: " + err.Error()
		return s
	}
	if tgt.LinkServer != "" {
		// The link's server is on the clusters' network; this host reaches
		// the same API server at its own address.
		cfg.Host = tgt.Server
	}
	cfg.Timeout = 3 * time.Second
	rcs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		s.RemoteDetail = err.Error()
		return s
	}
	if _, err := rcs.CoreV1().Pods("").List(cctx, metav1.ListOptions{Limit: 1}); err != nil {
		s.RemoteDetail = fmt.Sprintf("%s: %v", cfg.Host, err)
		return s
	}
	s.RemoteReachable = true
	return s
}

func isGone(err error) bool { return apierrors.IsNotFound(err) }
