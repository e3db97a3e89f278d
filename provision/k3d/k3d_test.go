package k3d

import (
	"context"
	"errors"
	"io"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/k3d-io/k3d/v5/pkg/runtimes"
	k3dtypes "github.com/k3d-io/k3d/v5/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/dstload/dstload/internal/testutil"
	"github.com/dstload/dstload/provision"
	"github.com/dstload/dstload/provision/fakenode"
)

// noDocker points the Docker client at a socket that does not exist, so
// that the tests prove they need no daemon (and behave the same on a
// machine that has one).
func noDocker(t *testing.T) {
	t.Helper()
	t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(t.TempDir(), "no-docker.sock"))
	t.Setenv("DOCKER_CONTEXT", "")
}

func testEnv(t *testing.T) provision.Env {
	return provision.Env{Name: "dstload", Dir: t.TempDir(), Log: testutil.Discard(), Progress: io.Discard}
}

func TestClusterConfigWithoutDocker(t *testing.T) {
	noDocker(t)
	spec := ClusterSpec{Name: "dstload", Image: DefaultK3sImage, Network: NetworkName("dstload"), APIHostPort: 41234, Timeout: 3 * time.Minute}
	cc, err := ClusterConfig(context.Background(), runtimes.Docker, SimpleConfig(spec))
	if err != nil {
		t.Fatalf("transform/validate without a daemon: %v", err)
	}
	c := cc.Cluster
	if c.Name != "dstload" {
		t.Errorf("name %q", c.Name)
	}
	if len(c.Nodes) != 1 || c.Nodes[0].Role != k3dtypes.ServerRole {
		t.Fatalf("nodes %+v: want exactly one server (no load balancer, no agents)", c.Nodes)
	}
	if c.ServerLoadBalancer != nil || !cc.ClusterCreateOpts.DisableLoadBalancer {
		t.Errorf("load balancer not disabled")
	}
	n := c.Nodes[0]
	if n.Image != DefaultK3sImage {
		t.Errorf("image %q", n.Image)
	}
	var wantArgs []string
	for _, comp := range []string{"local-storage", "traefik", "servicelb", "metrics-server"} {
		wantArgs = append(wantArgs, "--disable="+comp)
	}
	wantArgs = append(wantArgs, "--cluster-cidr=10.42.0.0/16", "--service-cidr=10.43.0.0/16", "--cluster-dns=10.43.0.10", "--tls-san=k3d-dstload-server-0")
	if !slices.Equal(n.Args, wantArgs) {
		t.Errorf("k3s args %v, want %v", n.Args, wantArgs)
	}
	if c.Network.Name != "k3d-dstload-dstload" || !c.Network.External {
		t.Errorf("network %+v: want the shared, named network", c.Network)
	}
	if c.KubeAPI.Binding.HostIP != "127.0.0.1" || c.KubeAPI.Binding.HostPort != "41234" || c.KubeAPI.Host != "127.0.0.1" {
		t.Errorf("API exposure %+v", c.KubeAPI)
	}
	if cc.KubeconfigOpts.UpdateDefaultKubeconfig || cc.KubeconfigOpts.SwitchCurrentContext {
		t.Errorf("the user's default kubeconfig would be changed: %+v", cc.KubeconfigOpts)
	}
	if !cc.ClusterCreateOpts.WaitForServer || cc.ClusterCreateOpts.Timeout != 3*time.Minute {
		t.Errorf("create opts wait=%v timeout=%s", cc.ClusterCreateOpts.WaitForServer, cc.ClusterCreateOpts.Timeout)
	}
	// Both clusters of a multicluster environment join the same network.
	cc2, err := ClusterConfig(context.Background(), runtimes.Docker, SimpleConfig(ClusterSpec{Name: ClusterName("dstload", 1), Index: 1, Image: DefaultK3sImage, Network: NetworkName("dstload"), APIHostPort: 41235}))
	if err != nil {
		t.Fatal(err)
	}
	if cc2.Cluster.Network.Name != c.Network.Name || cc2.Cluster.Name != "dstload-2" {
		t.Errorf("second cluster %s on network %s", cc2.Cluster.Name, cc2.Cluster.Network.Name)
	}
	// ... so they must not hand out the same pod and service addresses.
	ranges := func(args []string) (pods, svc netip.Prefix) {
		for _, a := range args {
			if v, ok := strings.CutPrefix(a, "--cluster-cidr="); ok {
				pods = netip.MustParsePrefix(v)
			}
			if v, ok := strings.CutPrefix(a, "--service-cidr="); ok {
				svc = netip.MustParsePrefix(v)
			}
		}
		return pods, svc
	}
	p1, s1 := ranges(n.Args)
	p2, s2 := ranges(cc2.Cluster.Nodes[0].Args)
	all := []netip.Prefix{p1, s1, p2, s2, netip.MustParsePrefix(fakenode.PodCIDR(0))}
	for i := range all {
		for j := i + 1; j < len(all); j++ {
			if !all[i].IsValid() || all[i].Overlaps(all[j]) {
				t.Errorf("ranges overlap or are missing: %v (cluster 1 pods, services; cluster 2 pods, services; KWOK node 0 pods)", all)
			}
		}
	}
	if !slices.Contains(cc2.Cluster.Nodes[0].Args, "--tls-san=k3d-dstload-2-server-0") {
		t.Errorf("second cluster's server certificate does not name its container: %v", cc2.Cluster.Nodes[0].Args)
	}
}

// The link's kubeconfig reaches the other cluster's API server inside the
// Docker network; the host's kubeconfig file stays as it was.
func TestInternalKubeconfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kubeconfig")
	host := clientcmdapi.NewConfig()
	host.Clusters["k3d-dstload-2"] = &clientcmdapi.Cluster{Server: "https://127.0.0.1:41235", CertificateAuthorityData: []byte("CA")}
	host.AuthInfos["admin@k3d-dstload-2"] = &clientcmdapi.AuthInfo{ClientCertificateData: []byte("CERT"), ClientKeyData: []byte("KEY")}
	host.Contexts["k3d-dstload-2"] = &clientcmdapi.Context{Cluster: "k3d-dstload-2", AuthInfo: "admin@k3d-dstload-2"}
	host.Contexts["other"] = &clientcmdapi.Context{Cluster: "k3d-dstload-2", AuthInfo: "admin@k3d-dstload-2"}
	host.CurrentContext = "k3d-dstload-2"
	if err := clientcmd.WriteToFile(*host, path); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, context, want string }{
		{"current context", "", ""},
		{"named context", "k3d-dstload-2", ""},
		{"no such context", "nope", "no complete context"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := InternalKubeconfig(path, tc.context, "dstload-2")
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("got %v, want %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			cl := cfg.Clusters[cfg.Contexts[cfg.CurrentContext].Cluster]
			if cl.Server != "https://k3d-dstload-2-server-0:6443" || string(cl.CertificateAuthorityData) != "CA" {
				t.Errorf("cluster %+v", cl)
			}
			if len(cfg.Contexts) != 1 || string(cfg.AuthInfos["admin@k3d-dstload-2"].ClientKeyData) != "KEY" {
				t.Errorf("contexts %v auth %v", cfg.Contexts, cfg.AuthInfos)
			}
		})
	}
	again, err := clientcmd.LoadFromFile(path)
	if err != nil || again.Clusters["k3d-dstload-2"].Server != "https://127.0.0.1:41235" {
		t.Errorf("the host kubeconfig changed: %v %v", again, err)
	}
}

// The SDK's own checks reject what k3d's CLI would reject.
func TestClusterConfigErrors(t *testing.T) {
	noDocker(t)
	ok := ClusterSpec{Name: "dstload", Image: DefaultK3sImage, Network: "k3d-dstload-dstload", APIHostPort: 41234}
	for _, tc := range []struct {
		name   string
		mutate func(*ClusterSpec)
		want   string
	}{
		// The config-file schema catches these before ValidateClusterConfig.
		{"bad cluster name", func(s *ClusterSpec) { s.Name = "Bad_Name" }, "metadata.name: Does not match format 'hostname'"},
		{"too long cluster name", func(s *ClusterSpec) { s.Name = strings.Repeat("a", 64) }, "metadata.name"},
		{"negative timeout", func(s *ClusterSpec) { s.Timeout = -time.Second }, "timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := ok
			tc.mutate(&spec)
			_, err := ClusterConfig(context.Background(), runtimes.Docker, SimpleConfig(spec))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error about %q", err, tc.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
		want string // "" = valid
	}{
		{"defaults", Options{}, ""},
		{"two clusters", Options{Clusters: 2, Nodes: 10}, ""},
		{"digest image", Options{K3sImage: "rancher/k3s@sha256:" + strings.Repeat("a", 64)}, ""},
		{"negative nodes", Options{Nodes: -1}, "--nodes"},
		{"too many nodes", Options{Nodes: MaxNodes + 1}, "--nodes"},
		{"three clusters", Options{Clusters: 3}, "--clusters"},
		{"bad image", Options{K3sImage: "rancher/k3s:v1.32 5"}, "not an image reference"},
		{"bad network", Options{Network: "my net"}, "network name"},
		{"bad api port", Options{APIPort: 70000}, "--api-port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Runtime = newFakeRuntime() // a Docker that answers
			err := New(tc.opts).Validate()
			if tc.want == "" && err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("got %v, want an error naming %q", err, tc.want)
			}
		})
	}
}

func TestFactoryRejectsLocalOnlySettings(t *testing.T) {
	for _, tc := range []struct {
		cfg  provision.Config
		want string
	}{
		{provision.Config{DestinationBin: "/bin/controller"}, "--destination-bin: not used by provider k3d"},
		{provision.Config{DestinationAddr: "127.0.0.1:8086", Context: "kind"}, "--context, --destination-addr: not used"},
		{provision.Config{Kubeconfig: "/k"}, "--kubeconfig"},
	} {
		p, err := Factory(tc.cfg)
		if err != nil {
			t.Fatal(err)
		}
		k := p.(*Provider)
		k.opts.Runtime = newFakeRuntime()
		if err := k.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "--provider local") {
			t.Errorf("%+v: got %v, want an error naming %q", tc.cfg, err, tc.want)
		}
	}
	// The defaults of `dstload up` and a zero Config (down, status) pass.
	for _, cfg := range []provision.Config{{}, {Nodes: 3, Clusters: 1, BinDir: "/cache", DestinationImage: "cr.l5d.io/linkerd/controller:edge-26.8.3"}} {
		p, _ := Factory(cfg)
		p.(*Provider).opts.Runtime = newFakeRuntime()
		if err := p.(*Provider).Validate(); err != nil {
			t.Errorf("%+v: %v", cfg, err)
		}
	}
}

func TestDockerUnreachable(t *testing.T) {
	noDocker(t)
	env := testEnv(t)
	p := New(Options{})
	var du *DockerUnavailableError
	// Preflight runs before `up` writes anything: it must catch it.
	if err := p.Preflight(context.Background()); !errors.As(err, &du) {
		t.Fatalf("Preflight without Docker: got %v, want DockerUnavailableError", err)
	}
	st := &provision.State{Name: "dstload", Provider: ProviderName}
	saves := 0
	save := func(*provision.State) error { saves++; return nil }

	err := p.Create(context.Background(), env, st, save)
	if !errors.As(err, &du) {
		t.Fatalf("Create without Docker: got %v, want DockerUnavailableError", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "--provider local") || strings.Contains(msg, "\n") {
		t.Errorf("error %q: want one line naming --provider local", msg)
	}
	if saves != 0 || len(st.ProviderData) != 0 || len(st.Clusters) != 0 {
		t.Errorf("Create without Docker recorded something: saves=%d state=%+v", saves, st)
	}

	// Nothing recorded: Down succeeds without Docker.
	if err := p.Delete(context.Background(), env, st, save); err != nil {
		t.Errorf("Delete of an empty environment without Docker: %v", err)
	}

	// Something recorded: Down cannot pretend, it says what to do.
	if err := storeData(st, &data{Network: "n", Clusters: []clusterRec{{Name: "dstload", APIHostPort: 1}}}); err != nil {
		t.Fatal(err)
	}
	if err := p.Delete(context.Background(), env, st, save); !errors.As(err, &du) {
		t.Errorf("Delete of a recorded cluster without Docker: got %v", err)
	}
	comps, err := p.Status(context.Background(), env, st)
	if err != nil || len(comps) != 1 || comps[0].Health != provision.Unhealthy || !strings.Contains(comps[0].Detail, "Docker is not reachable") {
		t.Errorf("Status without Docker: %+v, %v", comps, err)
	}
}

func TestCreateFailureRollsBack(t *testing.T) {
	rt := newFakeRuntime()
	rt.failNode = "-server-0"
	env := testEnv(t)
	p := New(Options{Runtime: rt, NoWorkloadImage: true, ReadyTimeout: 10 * time.Second})
	st := &provision.State{Name: "dstload", Provider: ProviderName}
	var saved []int
	save := func(s *provision.State) error {
		d, _ := loadData(s)
		saved = append(saved, len(d.Clusters))
		return nil
	}

	err := p.Create(context.Background(), env, st, save)
	if err == nil || !strings.Contains(err.Error(), "pull access denied") || !strings.Contains(err.Error(), "rolled back") {
		t.Fatalf("got %v, want the create error, rolled back", err)
	}
	// The cluster was recorded before the SDK ran (so an interrupted create
	// can be removed by down) ...
	if len(saved) == 0 || saved[0] != 1 {
		t.Errorf("cluster not recorded before creation: saves %v", saved)
	}
	t.Logf("removed: %v", rt.deleted)
	// ... and the rollback left no container or volume behind.
	rt.mu.Lock()
	nodes, vols := len(rt.nodes), len(rt.volumes)
	rt.mu.Unlock()
	if nodes != 0 || vols != 0 {
		t.Errorf("after rollback: %d containers, %d volumes left (deleted %v)", nodes, vols, rt.deleted)
	}

	// down then removes the network dstload created, and the record.
	if err := p.Delete(context.Background(), env, st, func(*provision.State) error { return nil }); err != nil {
		t.Fatalf("Delete after a failed create: %v", err)
	}
	if rt.networks[NetworkName("dstload")] {
		t.Errorf("network %s left behind", NetworkName("dstload"))
	}
	if d, _ := loadData(st); len(d.Clusters) != 0 || d.NetworkCreated {
		t.Errorf("state still records %+v", d)
	}
}

func TestRefusesForeignCluster(t *testing.T) {
	rt := newFakeRuntime()
	rt.nodes = []*k3dtypes.Node{{Name: "k3d-dstload-server-0", Role: k3dtypes.ServerRole, RuntimeLabels: map[string]string{k3dtypes.LabelClusterName: "dstload", k3dtypes.LabelRole: string(k3dtypes.ServerRole)}}}
	p := New(Options{Runtime: rt, NoWorkloadImage: true})
	st := &provision.State{Name: "dstload", Provider: ProviderName}
	err := p.Create(context.Background(), testEnv(t), st, func(*provision.State) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "not created by this environment") {
		t.Fatalf("got %v, want a refusal to adopt the user's cluster", err)
	}
	if len(rt.deleted) != 0 {
		t.Errorf("deleted %v of a cluster that is not ours", rt.deleted)
	}
}

func TestInternalServer(t *testing.T) {
	if got := InternalServer("dstload-2"); got != "https://k3d-dstload-2-server-0:6443" {
		t.Errorf("got %s", got)
	}
}

func TestWorkloadImageRecord(t *testing.T) {
	st := &provision.State{}
	if _, _, ok := WorkloadImage(st, ""); ok {
		t.Fatal("empty state reports an image")
	}
	if err := storeData(st, &data{Clusters: []clusterRec{{Name: "dstload", WorkloadImage: "dstload.local/dstload:v1-abcdef012345"}, {Name: "dstload-2"}}}); err != nil {
		t.Fatal(err)
	}
	repo, tag, ok := WorkloadImage(st, "")
	if !ok || repo != "dstload.local/dstload" || tag != "v1-abcdef012345" {
		t.Fatalf("got %q %q %v", repo, tag, ok)
	}
}

func TestFakeNodeMatchesChartScheduling(t *testing.T) {
	n := fakenode.New(2)
	if n.Labels["type"] != "kwok" || n.Annotations["kwok.x-k8s.io/node"] != "fake" {
		t.Errorf("labels %v annotations %v", n.Labels, n.Annotations)
	}
	if len(n.Spec.Taints) != 1 || n.Spec.Taints[0].Key != "kwok.x-k8s.io/node" || n.Spec.Taints[0].Value != "fake" || n.Spec.Taints[0].Effect != "NoSchedule" {
		t.Errorf("taints %v", n.Spec.Taints)
	}
	if n.Spec.PodCIDR == "" || strings.HasPrefix(n.Spec.PodCIDR, "10.42.") {
		t.Errorf("pod CIDR %q must be set and outside k3s' 10.42.0.0/16", n.Spec.PodCIDR)
	}
}
