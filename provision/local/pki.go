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

// A clientIdentity is a client certificate of the cluster CA, written as
// <name>.crt and <name>.key: kube-apiserver maps CN to the user and O to
// groups.
type clientIdentity struct {
	name, cn string
	orgs     []string
}

// A servingIdentity is a TLS server certificate of the cluster CA, written
// as <name>.crt and <name>.key.
type servingIdentity struct {
	name, cn string
	dns      []string
	ips      []net.IP
}

// admin is the user's identity (the environment's kubeconfig) and dstload's
// own for health checks (etcd requires a client certificate).
var admin = clientIdentity{"admin", "dstload-admin", []string{"system:masters"}}

// ensurePKI creates the cluster CA, the admin certificate, every serving and
// client certificate the components need and the service-account signing
// key in dir, keeping what already exists (a resumed up must not re-key a
// running cluster).
func ensurePKI(dir, envName string, comps []component) (*certs.KeyPair, error) {
	ca, _, err := certs.EnsureCA(dir, "ca", "dstload-"+envName+"-cluster-ca", pkiValidity)
	if err != nil {
		return nil, fmt.Errorf("cluster CA: %w", err)
	}
	var serving []servingIdentity
	clients := []clientIdentity{admin}
	for _, c := range comps {
		serving, clients = append(serving, c.serving...), append(clients, c.clients...)
	}
	for _, s := range serving {
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
	for _, c := range clients {
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
