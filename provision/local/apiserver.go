package local

import (
	"context"
	"fmt"
	"net"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/dstload/dstload/provision/fakenode"
)

// portAPI is the apiserver's port in data.Ports (--api-port fixes it).
const portAPI = "apiserver"

// advertiseAddress is what the apiserver advertises (see its flags).
const advertiseAddress = "192.0.2.1"

// serviceIP is the first address of the service CIDR: the "kubernetes"
// Service, which the apiserver's serving certificate must name.
var serviceIP = net.ParseIP("10.96.0.1")

const serviceCIDR = "10.96.0.0/16"

// apiServer is kube-apiserver on loopback, against etcd.
func apiServer(l layout) component {
	api := l.ports[portAPI]
	return component{
		name: APIServer,
		argv: []string{l.bins[APIServer],
			"--etcd-servers=" + loopbackURL("https", l.ports[portEtcdClient], ""), "--etcd-cafile=" + l.pki("ca.crt"),
			"--etcd-certfile=" + l.pki("apiserver-etcd-client.crt"), "--etcd-keyfile=" + l.pki("apiserver-etcd-client.key"),
			// The apiserver listens on loopback only, but the address it
			// advertises (the endpoint of the "kubernetes" Service) may
			// not be loopback: with 127.0.0.1 that Service gets no
			// EndpointSlice, and Linkerd's destination controller refuses
			// to start in a cluster without any. A TEST-NET-1 address
			// (RFC 5737) is valid and reaches nothing.
			"--bind-address=127.0.0.1", "--advertise-address=" + advertiseAddress, "--secure-port=" + strconv.Itoa(api),
			"--tls-cert-file=" + l.pki("apiserver.crt"), "--tls-private-key-file=" + l.pki("apiserver.key"),
			"--client-ca-file=" + l.pki("ca.crt"),
			"--kubelet-client-certificate=" + l.pki("apiserver-kubelet-client.crt"), "--kubelet-client-key=" + l.pki("apiserver-kubelet-client.key"),
			"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
			"--service-account-key-file=" + l.pki("sa.pub"), "--service-account-signing-key-file=" + l.pki("sa.key"),
			"--service-cluster-ip-range=" + serviceCIDR, "--authorization-mode=Node,RBAC",
			"--allow-privileged=true",
			// This plugin taints every new Node not-ready until the
			// controller manager's node-lifecycle controller has seen it
			// Ready; the fake nodes are Ready at once (kwok), so the taint
			// would only hold up the first pods by about a second.
			"--disable-admission-plugins=TaintNodesByCondition",
			// Load tests must not be throttled by the apiserver itself.
			"--enable-priority-and-fairness=false", "--max-requests-inflight=0", "--max-mutating-requests-inflight=0",
		},
		addr: loopback(api), health: loopbackURL("https", api, "/readyz"),
		ports: map[string]int{"https": api},
		serving: []servingIdentity{{"apiserver", "kube-apiserver",
			[]string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
			[]net.IP{net.IPv4(127, 0, 0, 1), serviceIP}}},
		clients: []clientIdentity{
			{"apiserver-etcd-client", "kube-apiserver-etcd-client", nil},
			{"apiserver-kubelet-client", "kube-apiserver-kubelet-client", []string{"system:masters"}},
		},
		onReady: func(ctx context.Context, cs kubernetes.Interface, d *data) error {
			return apiServerReady(ctx, cs, d, l.cluster)
		},
	}
}

// apiServerReady makes what needs only the apiserver, so that it overlaps
// with the other components' start.
func apiServerReady(ctx context.Context, cs kubernetes.Interface, d *data, cluster int) error {
	// kwok picks the nodes up when it comes.
	if err := fakenode.EnsureInCluster(ctx, cs, d.Nodes, cluster); err != nil {
		return err
	}
	// The controller manager would create the default ServiceAccount
	// (without which pods are refused) only once its controllers run;
	// making it now takes kcm off the critical path.
	return ensureDefaultServiceAccount(ctx, cs)
}

// ensureDefaultServiceAccount creates default/default if it is missing.
func ensureDefaultServiceAccount(ctx context.Context, cs kubernetes.Interface) error {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "default"}}
	_, err := cs.CoreV1().ServiceAccounts("default").Create(ctx, sa, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create default ServiceAccount: %w", err)
	}
	return nil
}
