package k3d

import (
	"fmt"

	"github.com/k3d-io/k3d/v5/pkg/client"
	k3dtypes "github.com/k3d-io/k3d/v5/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// internalHost is the server container's name, which Docker's embedded DNS
// resolves for every container on the cluster's network.
func internalHost(cluster string) string {
	return client.GenerateNodeName(cluster, k3dtypes.ServerRole, 0)
}

// InternalServer is the API server URL of a cluster as seen from the
// containers on the shared network (the other cluster's destination
// controller, when linking), where the host's 127.0.0.1:<port> means
// nothing: the server container's name and k3s' own port.
func InternalServer(cluster string) string {
	return "https://" + internalHost(cluster) + ":" + k3dtypes.DefaultAPIPort
}

// InternalKubeconfig is the kubeconfig of cluster for a client inside the
// Docker network (a multicluster link's credentials): the context
// kubeContext of the kubeconfig file, with the server replaced by
// InternalServer and everything else (CA, client certificate) kept. The
// file itself is not changed.
func InternalKubeconfig(kubeconfig, kubeContext, cluster string) (*clientcmdapi.Config, error) {
	cfg, err := clientcmd.LoadFromFile(kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("read kubeconfig of cluster %s: %w", cluster, err)
	}
	if kubeContext == "" {
		kubeContext = cfg.CurrentContext
	}
	kc := cfg.Contexts[kubeContext]
	if kc == nil || cfg.Clusters[kc.Cluster] == nil || cfg.AuthInfos[kc.AuthInfo] == nil {
		return nil, fmt.Errorf("kubeconfig %s has no complete context %q for cluster %s: run 'dstload up' to write it again", kubeconfig, kubeContext, cluster)
	}
	cl := cfg.Clusters[kc.Cluster].DeepCopy()
	cl.Server = InternalServer(cluster)
	out := clientcmdapi.NewConfig()
	out.Clusters[kc.Cluster] = cl
	out.AuthInfos[kc.AuthInfo] = cfg.AuthInfos[kc.AuthInfo].DeepCopy()
	out.Contexts[kubeContext] = kc.DeepCopy()
	out.CurrentContext = kubeContext
	return out, nil
}
