package local

import (
	"context"
	"net"
	"path/filepath"
	"strconv"

	"k8s.io/client-go/kubernetes"
)

// A component is one supervised process of the local environment, stated as
// data: each has a file of its own (etcd.go, apiserver.go, ...) that says
// what it runs, which ports it binds, where it answers "healthy", which
// certificates and kubeconfig it needs and which files it reads. Create,
// Delete and Status run the same code over all of them.
type component struct {
	name string
	argv []string
	// env is added to dstload's environment.
	env []string
	// addr is the main address it serves; health answers 200 when ready.
	addr, health string
	// ports it binds, by the name its process record gives them.
	ports map[string]int
	// serving and clients are the certificates it needs from the cluster
	// CA; kubeconfig, when set, names the client identity of the
	// kubeconfig it reads (config/<kubeconfig>.kubeconfig).
	serving    []servingIdentity
	clients    []clientIdentity
	kubeconfig string
	// configs are the files it reads, written before it starts.
	configs []configFile
	// afterAPIServer: it talks to the apiserver from its start and may give
	// up on it (kube-controller-manager exits when the apiserver is not
	// healthy within 10 s, which a restarted apiserver doing its RBAC
	// bootstrap, or a loaded machine, can exceed). Such a component that
	// exited while the apiserver started gets one restart once the
	// apiserver is healthy: that tells a slow start from one that cannot
	// start at all.
	afterAPIServer bool
	// onReady runs once it is healthy (the apiserver: objects the rest of
	// the start-up needs).
	onReady func(ctx context.Context, cs kubernetes.Interface, d *data) error
}

// A configFile is written into local/config/ before its component starts.
type configFile struct {
	name  string
	write func(path string) error
}

// layout is what the components' facts are computed from: the
// environment's directories, the ports recorded in its state and the
// binaries found.
type layout struct {
	paths
	ports map[string]int
	bins  Binaries
	// cluster is the control plane's index (0 source, 1 target): the
	// fake nodes' pod ranges (fakenode.NewInCluster).
	cluster int
}

func (l layout) pki(name string) string    { return filepath.Join(l.paths.pki, name) }
func (l layout) config(name string) string { return filepath.Join(l.paths.config, name) }

// kubeconfigPath is where a client identity's kubeconfig is written.
func (l layout) kubeconfigPath(identity string) string {
	return l.config(identity + ".kubeconfig")
}

// loopback is host:port on 127.0.0.1, where every component listens.
func loopback(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// loopbackURL is scheme://127.0.0.1:port path.
func loopbackURL(scheme string, port int, path string) string {
	return scheme + "://" + loopback(port) + path
}

// controlPlane lists the control-plane components in start order.
func controlPlane(l layout) []component {
	return []component{etcd(l), apiServer(l), controllerManager(l), scheduler(l), kwok(l)}
}

// everyComponent is the control plane, the destination controller and
// Prometheus, for what is made before anything starts (certificates,
// kubeconfigs, configuration files); the destination controller's and
// Prometheus' command lines and ports are decided when they start, after
// the stack (StartDestination).
func everyComponent(l layout) []component {
	return append(controlPlane(l), destination(l, destinationRun{}), prometheus(l, prometheusRun{}))
}

// portNames are the keys of data.Ports (the state file), in the order
// ports are picked.
var portNames = []string{portEtcdClient, portEtcdPeer, portAPI, portKCM, portScheduler, portKwok}
