package local

import (
	"fmt"

	"github.com/dstload/dstload/provision"
)

// EtcdAccess is how a dstload process on this host reads the local
// cluster's etcd: `dstload observe` follows the store itself, ahead of
// every API server watcher, for the reference clock of update latencies
// (workload/observer). It uses the API server's etcd client identity,
// read-only.
type EtcdAccess struct {
	Endpoint string // https://127.0.0.1:PORT
	CAFile   string
	CertFile string
	KeyFile  string
	// Prefix is the API server's --etcd-prefix (its default).
	Prefix string
}

// EtcdAccessOf returns the etcd of the environment in envDir whose state
// is st; an error when st records no etcd (not a local environment).
func EtcdAccessOf(envDir string, st *provision.State) (EtcdAccess, error) {
	if st.Provider != ProviderName {
		return EtcdAccess{}, fmt.Errorf("environment %q is not a local one (provider %s)", st.Name, st.Provider)
	}
	d, err := loadData(st)
	if err != nil || d == nil || d.Ports[portEtcdClient] == 0 {
		return EtcdAccess{}, fmt.Errorf("environment %q records no local etcd", st.Name)
	}
	l := layout{paths: envPaths(envDir)}
	return EtcdAccess{
		Endpoint: loopbackURL("https", d.Ports[portEtcdClient], ""),
		CAFile:   l.pki("ca.crt"), CertFile: l.pki("apiserver-etcd-client.crt"), KeyFile: l.pki("apiserver-etcd-client.key"),
		Prefix: "/registry",
	}, nil
}

// Args are `dstload observe`'s flags for it.
func (e EtcdAccess) Args() []string {
	return []string{"--etcd-endpoint", e.Endpoint, "--etcd-ca", e.CAFile, "--etcd-cert", e.CertFile, "--etcd-key", e.KeyFile, "--etcd-prefix", e.Prefix}
}
