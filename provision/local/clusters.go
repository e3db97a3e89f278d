package local

import (
	"fmt"
	"path/filepath"

	"github.com/dstload/dstload/provision"
)

// TargetSuffix names an environment's second cluster: "<name>-2", as the
// k3d provider names its second cluster.
const TargetSuffix = "-2"

// targetDir is the second cluster's own directory in the environment
// directory; it holds what the environment directory holds for the first
// (local/, logs/, kubeconfig).
const targetDir = "target"

// A localCluster is one control plane of the environment. The first, the
// source, keeps the layout and record keys of a single-cluster environment
// (its processes are recorded under cluster ""), so an environment made
// before multicluster existed reads the same. The second, the target, is a
// named sub-environment: its processes are recorded under its cluster name,
// its files live in <env>/target/, its ports in data.TargetPorts.
type localCluster struct {
	// key is Process.Cluster of its records ("" for the source).
	key string
	// name is its provision.Cluster name; contextName its kubeconfig
	// context.
	name, contextName string
	paths             paths
	ports             map[string]int
	// index is 0 for the source, 1 for the target.
	index int
}

// TargetName is the name of an environment's second (target) cluster.
func TargetName(envName string) string { return envName + TargetSuffix }

// clusters returns the environment's control planes, source first.
func clusters(env provision.Env, d *data) []localCluster {
	out := []localCluster{{key: "", name: env.Name, contextName: ContextName(env.Name), paths: envPaths(env.Dir), ports: d.Ports}}
	if d.Clusters > 1 {
		name := TargetName(env.Name)
		out = append(out, localCluster{key: name, name: name, contextName: ContextName(name),
			paths: envPaths(filepath.Join(env.Dir, targetDir)), ports: d.TargetPorts, index: 1})
	}
	return out
}

// recordKey is the Process.Cluster key of the named cluster's records.
func recordKey(env provision.Env, cluster string) string {
	if cluster == env.Name {
		return ""
	}
	return cluster
}

// clusterCount is how many clusters this Create makes: what was asked for,
// else what the environment records, else one. An environment is never
// shrunk in place: the target would be left running unrecorded.
func (p *Provider) clusterCount(d *data) (int, error) {
	have := max(d.Clusters, 1)
	want := p.opts.Clusters
	if want == 0 {
		return have, nil
	}
	if want < have {
		return 0, &shrinkError{have: have, want: want}
	}
	return want, nil
}

// shrinkError refuses to drop a cluster from an environment that is up.
type shrinkError struct{ have, want int }

func (e *shrinkError) Usage() {}
func (e *shrinkError) Error() string {
	return fmt.Sprintf("the environment has %d clusters, not %d: run 'dstload down' first, or 'dstload up --clusters %d'", e.have, e.want, e.have)
}

// clusterPrefix prefixes the target's progress lines with its name.
func clusterPrefix(key string) string {
	if key == "" {
		return ""
	}
	return key + " "
}

// EtcdAccessOfCluster is EtcdAccessOf for the named cluster of the
// environment: the target's own etcd for a multicluster run's observer,
// whose endpoints live there.
func EtcdAccessOfCluster(envDir string, st *provision.State, cluster string) (EtcdAccess, error) {
	if cluster == "" || cluster == st.Name {
		return EtcdAccessOf(envDir, st)
	}
	d, err := loadData(st)
	if err != nil || st.Provider != ProviderName || d.Clusters < 2 || cluster != TargetName(st.Name) || d.TargetPorts[portEtcdClient] == 0 {
		return EtcdAccess{}, fmt.Errorf("environment %q records no local etcd of cluster %s", st.Name, cluster)
	}
	l := layout{paths: envPaths(filepath.Join(envDir, targetDir))}
	return EtcdAccess{
		Endpoint: loopbackURL("https", d.TargetPorts[portEtcdClient], ""),
		CAFile:   l.pki("ca.crt"), CertFile: l.pki("apiserver-etcd-client.crt"), KeyFile: l.pki("apiserver-etcd-client.key"),
		Prefix: "/registry",
	}, nil
}
