package k3d

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/k3d-io/k3d/v5/pkg/runtimes"
	k3dtypes "github.com/k3d-io/k3d/v5/pkg/types"
	"github.com/k3d-io/k3d/v5/pkg/types/fixes"
)

const corednsManifest = `apiVersion: v1
kind: ConfigMap
metadata:
  name: coredns
  namespace: kube-system
data:
  Corefile: |
    .:53 {
        forward . /etc/resolv.conf
    }
  NodeHosts: |
    172.20.0.2 k3d-dstload-server-0
`

// stoppedCluster makes, on the fake daemon and through the SDK's Docker
// runtime, the stopped server container of cluster dstload as k3d's
// cluster create leaves it (the node the SDK's config builds, with the
// labels ClusterCreate adds).
func stoppedCluster(t *testing.T, d *fakeDockerd) {
	t.Helper()
	netName := NetworkName("dstload")
	d.AddNetwork(netName, k3dtypes.DefaultRuntimeLabels)
	cc, err := ClusterConfig(context.Background(), runtimes.Docker, SimpleConfig(ClusterSpec{Name: "dstload", Image: DefaultK3sImage, Network: netName, APIHostPort: 41234}))
	if err != nil {
		t.Fatal(err)
	}
	n := cc.Cluster.Nodes[0]
	n.Name = "k3d-dstload-server-0"
	n.Networks = []string{netName}
	n.RuntimeLabels = map[string]string{
		k3dtypes.LabelClusterName:     "dstload",
		k3dtypes.LabelRole:            string(k3dtypes.ServerRole),
		k3dtypes.LabelNetwork:         netName,
		k3dtypes.LabelNetworkExternal: "true",
		k3dtypes.LabelImageVolume:     "k3d-dstload-images",
		k3dtypes.LabelServerAPIPort:   "41234",
	}
	for k, v := range k3dtypes.DefaultRuntimeLabels {
		n.RuntimeLabels[k] = v
	}
	if err := runtimes.Docker.CreateNode(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	c := d.Container(n.Name)
	c.LogLines = []string{
		`time="2026-12-01T10:00:00Z" level=info msg="k3s is up and running"`,
		`time="2026-12-01T10:00:01Z" level=info msg="Cluster dns configmap has been created"`,
	}
	c.Files["/var/lib/rancher/k3s/server/manifests/coredns.yaml"] = []byte(corednsManifest)
	c.Files["/etc/hosts"] = []byte("127.0.0.1 localhost\n")
}

// useFixes sets the SDK's autofix table (package state it fills once per
// process) for one test.
func useFixes(t *testing.T, dns bool) {
	old, oldAny := fixes.EnabledFixes, fixes.AnyFixEnabled
	fixes.EnabledFixes = map[fixes.K3DFixEnv]bool{fixes.EnvFixDNS: dns, fixes.EnvFixCgroupV2: false, fixes.EnvFixMounts: false}
	fixes.AnyFixEnabled = dns
	t.Cleanup(func() { fixes.EnabledFixes, fixes.AnyFixEnabled = old, oldAny })
}

// A stopped cluster (a reboot, `docker stop`) is started as `k3d cluster
// start` starts it: with the environment gathered first, whose host
// gateway the DNS fix writes into the node's entrypoint and the
// post-start step writes into /etc/hosts and CoreDNS as host.k3d.internal.
// Through the SDK's real Docker runtime against a fake daemon.
func TestRestartStoppedCluster(t *testing.T) {
	for _, dnsFix := range []bool{true, false} {
		t.Run(fmt.Sprintf("dns fix %v", dnsFix), func(t *testing.T) {
			d := startFakeDockerd(t)
			useFixes(t, dnsFix)
			stoppedCluster(t, d)
			env := testEnv(t)
			p := New(Options{ReadyTimeout: 30 * time.Second})
			defer routeSDKLogs(env.Log)()

			c, err := p.getCluster(context.Background(), env.Log, "dstload")
			if err != nil || c == nil {
				t.Fatalf("cluster: %v, %v", c, err)
			}
			func() {
				defer func() {
					if r := recover(); r != nil {
						err = fmt.Errorf("panic: %v", r)
					}
				}()
				err = p.ensureRunning(context.Background(), env, c)
			}()
			if err != nil {
				t.Fatalf("start: %v", err)
			}
			server := d.Container("k3d-dstload-server-0")
			if !server.Running {
				t.Fatal("server not running")
			}
			const gw = "172.20.0.1"
			if dns := string(server.Files["/bin/k3d-entrypoint-dns.sh"]); dnsFix && !strings.Contains(dns, gw) {
				t.Errorf("DNS fix entrypoint without the gateway %s:\n%s", gw, dns)
			}
			hosts := ""
			for p, b := range server.Files {
				if strings.HasPrefix(p, "/tmp/-etc-hosts-") {
					hosts = string(b)
				}
			}
			if !strings.Contains(hosts, gw+" host.k3d.internal") {
				t.Errorf("/etc/hosts rewrite %q lacks host.k3d.internal (execs %v)", hosts, d.Execs)
			}
			if cm := string(server.Files["/var/lib/rancher/k3s/server/manifests/coredns.yaml"]); !strings.Contains(cm, gw+" host.k3d.internal") {
				t.Errorf("CoreDNS NodeHosts lacks host.k3d.internal:\n%s", cm)
			}
			if d.Container("k3d-dstload-tools") != nil {
				t.Error("the tools container of the environment check was left running")
			}
		})
	}
}
