package local

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/dstload/dstload/certs"
)

// Certificate validity of the local cluster: long enough for any test bed,
// short enough that a forgotten one does not live forever.
const pkiValidity = 365 * 24 * time.Hour

// serviceIP is the first address of the service CIDR: the "kubernetes"
// Service, which the apiserver's serving certificate must name.
var serviceIP = net.ParseIP("10.96.0.1")

const serviceCIDR = "10.96.0.0/16"

// client identities: kube-apiserver maps CN to the user and O to groups.
var clientIdentities = []struct {
	name, cn string
	orgs     []string
}{
	{"admin", "dstload-admin", []string{"system:masters"}},
	{"apiserver-etcd-client", "kube-apiserver-etcd-client", nil},
	{"apiserver-kubelet-client", "kube-apiserver-kubelet-client", []string{"system:masters"}},
	// With --use-service-account-credentials=false every controller acts
	// as the controller manager itself, which then needs more than the
	// system:kube-controller-manager role grants (per-controller service
	// account tokens would cost start-up time on a throw-away cluster), and
	// system:masters passes authorization before the RBAC bootstrap roles
	// exist, so it starts alongside the apiserver without back-off.
	{"controller-manager", "system:kube-controller-manager", []string{"system:masters"}},
	// Started alongside the apiserver, the scheduler would otherwise be
	// refused by RBAC until the bootstrap roles exist, and its informers
	// would back off for seconds after the cluster is ready.
	{"scheduler", "system:kube-scheduler", []string{"system:masters"}},
	// kwok writes node and pod status of every fake node.
	{"kwok", "kwok-controller", []string{"system:masters"}},
	// Linkerd's destination controller needs cluster-wide reads, leases
	// and endpointslices (linkerd-integration.md section 2); admin covers it.
	{"destination", "linkerd-destination", []string{"system:masters"}},
}

// servingIdentities are the TLS servers of the control plane, all on
// 127.0.0.1.
var servingIdentities = []struct {
	name, cn string
	dns      []string
	ips      []net.IP
}{
	{"etcd", "etcd", []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)}},
	{"apiserver", "kube-apiserver", []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}, []net.IP{net.IPv4(127, 0, 0, 1), serviceIP}},
	{"controller-manager-serving", "kube-controller-manager", []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)}},
	{"scheduler-serving", "kube-scheduler", []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)}},
}

// ensurePKI creates the cluster CA, every serving and client certificate and
// the service-account signing key in dir, keeping what already exists (a
// resumed up must not re-key a running cluster).
func ensurePKI(dir, envName string) (*certs.KeyPair, error) {
	ca, _, err := certs.EnsureCA(dir, "ca", "dstload-"+envName+"-cluster-ca", pkiValidity)
	if err != nil {
		return nil, fmt.Errorf("cluster CA: %w", err)
	}
	for _, s := range servingIdentities {
		if have(dir, s.name+".crt") {
			continue
		}
		kp, err := ca.IssueServing(s.cn, s.dns, s.ips, pkiValidity)
		if err != nil {
			return nil, fmt.Errorf("%s certificate: %w", s.name, err)
		}
		if err := kp.Write(dir, s.name); err != nil {
			return nil, err
		}
	}
	for _, c := range clientIdentities {
		if have(dir, c.name+".crt") {
			continue
		}
		kp, err := ca.IssueClient(c.cn, c.orgs, pkiValidity)
		if err != nil {
			return nil, fmt.Errorf("%s certificate: %w", c.name, err)
		}
		if err := kp.Write(dir, c.name); err != nil {
			return nil, err
		}
	}
	// sa.pub is written after sa.key: checking it means a write cut short
	// between the two is redone instead of leaving the apiserver without
	// its --service-account-key-file.
	if !have(dir, "sa.pub") {
		k, err := certs.NewSigningKey()
		if err != nil {
			return nil, err
		}
		if err := k.Write(dir, "sa"); err != nil {
			return nil, err
		}
	}
	return ca, nil
}

func have(dir, name string) bool {
	_, err := os.Stat(filepath.Join(dir, name))
	return !errors.Is(err, os.ErrNotExist)
}

// writeKubeconfig writes a kubeconfig for one client identity of the PKI.
// embed=true inlines the certificates and key (the user-facing kubeconfig,
// which is then self-contained); otherwise it points at the PKI files.
func writeKubeconfig(path, server, contextName, pkiDir, identity string, embed bool) error {
	cluster := &clientcmdapi.Cluster{Server: server}
	user := &clientcmdapi.AuthInfo{}
	caFile := filepath.Join(pkiDir, "ca.crt")
	certFile := filepath.Join(pkiDir, identity+".crt")
	keyFile := filepath.Join(pkiDir, identity+".key")
	if embed {
		var err error
		if cluster.CertificateAuthorityData, err = os.ReadFile(caFile); err != nil {
			return err
		}
		if user.ClientCertificateData, err = os.ReadFile(certFile); err != nil {
			return err
		}
		if user.ClientKeyData, err = os.ReadFile(keyFile); err != nil {
			return err
		}
	} else {
		cluster.CertificateAuthority = caFile
		user.ClientCertificate = certFile
		user.ClientKey = keyFile
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[contextName] = cluster
	cfg.AuthInfos[contextName] = user
	cfg.Contexts[contextName] = &clientcmdapi.Context{Cluster: contextName, AuthInfo: contextName}
	cfg.CurrentContext = contextName
	// clientcmd writes 0600: the file holds (or points at) a private key.
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return nil
}
