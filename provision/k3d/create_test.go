package k3d

import (
	"context"
	"errors"
	"net"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/k3d-io/k3d/v5/pkg/client"
	k3dtypes "github.com/k3d-io/k3d/v5/pkg/types"

	"github.com/dstload/dstload/provision"
)

func nopSave(*provision.State) error { return nil }

// fakeFactory builds the k3d provider of the registry on rt.
func fakeFactory(rt *fakeRuntime) provision.Factory {
	return func(cfg provision.Config) (provision.Provider, error) {
		p, err := Factory(cfg)
		if err != nil {
			return nil, err
		}
		p.(*Provider).opts.Runtime = rt
		p.(*Provider).opts.daemonHost = nil
		return p, nil
	}
}

// Names k3d refuses are refused by `up` before anything is saved: the SDK
// would refuse them only after the first cluster of two was made.
func TestClusterNamesCheckedBeforeAnything(t *testing.T) {
	for _, tc := range []struct {
		name     string
		env      string
		clusters int
		want     string
	}{
		{"not a hostname", "Bad_Name", 1, `"Bad_Name"`},
		{"too long", strings.Repeat("a", 33), 1, "at most 32 characters"},
		// 31 characters is a valid first cluster, but <name>-2 has 33.
		{"second cluster too long", strings.Repeat("b", 31), 2, `"` + strings.Repeat("b", 31) + `-2"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := newFakeRuntime()
			reg := provision.NewRegistry()
			reg.Register(ProviderName, fakeFactory(rt))
			env := testEnv(t)
			env.Name = tc.env
			env.Dir = t.TempDir() + "/" + tc.env
			e := &provision.Lifecycle{Env: env, Providers: reg}
			_, err := e.Up(context.Background(), ProviderName, provision.Config{Clusters: tc.clusters, Nodes: 1})
			var cfgErr *provision.ConfigError
			if !errors.As(err, &cfgErr) || !strings.Contains(err.Error(), "k3d refuses") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want a ConfigError naming %s", err, tc.want)
			}
			if _, err := os.Stat(env.Dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("environment directory exists after a refused name: %v", err)
			}
			if len(rt.created) != 0 || len(rt.networks) != 0 {
				t.Errorf("created %d containers, %d networks", len(rt.created), len(rt.networks))
			}
		})
	}
	// The longest names k3d takes pass.
	for _, tc := range []struct {
		env      string
		clusters int
	}{{strings.Repeat("a", 32), 1}, {strings.Repeat("a", 30), 2}, {"dstload", 2}} {
		if err := New(Options{EnvName: tc.env, Clusters: tc.clusters, Runtime: newFakeRuntime()}).Validate(); err != nil {
			t.Errorf("%s with %d clusters: %v", tc.env, tc.clusters, err)
		}
	}
}

// apiPortOf returns the host port the server node of cluster publishes the
// API server on, as the SDK built it.
func apiPortOf(t *testing.T, n *k3dtypes.Node) int {
	t.Helper()
	for port, bindings := range n.Ports {
		for _, b := range bindings {
			p, err := strconv.Atoi(b.HostPort)
			if port.Port() == k3dtypes.DefaultAPIPort && err == nil {
				return p
			}
		}
	}
	t.Fatalf("server node %s publishes no API port: %v", n.Name, n.Ports)
	return 0
}

// A create that was rolled back leaves its record (down must find it), but
// the next up chooses the API port again: the old one may be the reason
// it failed, and a new --api-port must count.
func TestRecreateChoosesAPIPortAgain(t *testing.T) {
	rt := newFakeRuntime()
	rt.failNode = "-server-0"
	var mu sync.Mutex
	var ports []int
	rt.beforeCreate = func(n *k3dtypes.Node) {
		if n.Role == k3dtypes.ServerRole {
			mu.Lock()
			ports = append(ports, apiPortOf(t, n))
			mu.Unlock()
		}
	}
	env := testEnv(t)
	st := &provision.State{Name: "dstload", Provider: ProviderName}
	create := func(apiPort int) error {
		p := New(Options{Runtime: rt, NoWorkloadImage: true, APIPort: apiPort})
		return p.Create(context.Background(), env, st, nopSave)
	}
	recorded := func() int {
		d, _ := loadData(st)
		return d.cluster("dstload").APIHostPort
	}

	if err := create(0); err == nil || !strings.Contains(err.Error(), "rolled back") {
		t.Fatalf("first create: %v", err)
	}
	first := recorded()
	// Someone holds the old port now ("port is already allocated").
	hold, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(first)))
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Close()
	if err := create(0); err == nil {
		t.Fatal("second create succeeded on a fake that fails")
	}
	if second := recorded(); second == first || ports[1] != second {
		t.Errorf("retry used port %d (recorded %d), first attempt %d: want a new free port", ports[1], second, first)
	}

	// A new --api-port is used.
	want, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	if err := create(want); err == nil {
		t.Fatal("third create succeeded on a fake that fails")
	}
	if got := recorded(); got != want || ports[2] != want {
		t.Errorf("--api-port %d: recorded %d, server published %d", want, got, ports[2])
	}

	// A --api-port in use is refused before any container is made.
	n := len(ports)
	err = create(first)
	if err == nil || !strings.Contains(err.Error(), "--api-port "+strconv.Itoa(first)+" is in use") || len(ports) != n {
		t.Errorf("busy --api-port: got %v after %d server attempts (before: %d)", err, len(ports), n)
	}
}

// The helper images are pinned to the SDK's version, as the k3d CLI of
// that version pins them, not :latest.
func TestHelperImagesPinned(t *testing.T) {
	t.Setenv(k3dtypes.K3dEnvImageTools, "")
	t.Setenv(k3dtypes.K3dEnvImageHelperTag, "")
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		t.Fatal("no build info")
	}
	for _, m := range bi.Deps {
		if m.Path == "github.com/k3d-io/k3d/v5" && m.Version != SDKVersion {
			t.Errorf("go.mod has k3d %s, SDKVersion is %s: update SDKVersion", m.Version, SDKVersion)
		}
	}
	rt := newFakeRuntime()
	rt.failNode = "-server-0"
	p := New(Options{Runtime: rt, NoWorkloadImage: true})
	st := &provision.State{Name: "dstload", Provider: ProviderName}
	_ = p.Create(context.Background(), testEnv(t), st, nopSave)
	var tools []string
	for _, n := range rt.created {
		if strings.HasSuffix(n.Name, "-tools") {
			tools = append(tools, n.Image)
		}
	}
	if want := []string{"ghcr.io/k3d-io/k3d-tools:5.9.0"}; !slices.Equal(tools, want) {
		t.Errorf("tools containers ran %v, want %v", tools, want)
	}
	if got := k3dtypes.GetLoadbalancerImage(); got != "ghcr.io/k3d-io/k3d-proxy:5.9.0" {
		t.Errorf("load balancer image %s", got)
	}
}

// ClusterRun creates the tools container in a goroutine and returns on a
// failed create without waiting for it. Here that container takes a while
// (an image pull); the rollback must still remove it.
func TestRollbackWaitsForToolsContainer(t *testing.T) {
	rt := newFakeRuntime()
	rt.failNode = "-server-0"
	serverFailed := make(chan struct{})
	var once sync.Once
	rt.beforeCreate = func(n *k3dtypes.Node) {
		switch {
		case n.Role == k3dtypes.ServerRole:
			once.Do(func() { close(serverFailed) })
		case strings.HasSuffix(n.Name, "-tools"):
			<-serverFailed
			time.Sleep(300 * time.Millisecond) // pulling k3d-tools
		}
	}
	p := New(Options{Runtime: rt, NoWorkloadImage: true})
	st := &provision.State{Name: "dstload", Provider: ProviderName}
	err := p.Create(context.Background(), testEnv(t), st, nopSave)
	if err == nil || !strings.Contains(err.Error(), "rolled back") {
		t.Fatalf("got %v, want a rolled-back create", err)
	}
	// Whatever the SDK's goroutine still does, let it finish first.
	client.EnsureToolsNodeMutex.Lock()
	client.EnsureToolsNodeMutex.Unlock()
	if left := rt.nodeNames(); len(left) != 0 {
		t.Errorf("containers left after rollback: %v", left)
	}
}

// The tools container of such a failed create alone is no cluster: up
// creates the cluster (not "not created by this environment", not a
// start of a cluster without a server) and status says it is gone.
func TestToolsContainerAloneIsNoCluster(t *testing.T) {
	tools := func() *k3dtypes.Node {
		return &k3dtypes.Node{Name: "k3d-dstload-tools", Role: k3dtypes.NoRole, State: k3dtypes.NodeState{Running: true},
			RuntimeLabels: map[string]string{k3dtypes.LabelClusterName: "dstload", k3dtypes.LabelNetwork: NetworkName("dstload")}}
	}
	env := testEnv(t)

	rt := newFakeRuntime()
	rt.nodes = []*k3dtypes.Node{tools()}
	st := &provision.State{Name: "dstload", Provider: ProviderName}
	if err := storeData(st, &data{Network: NetworkName("dstload"), Clusters: []clusterRec{{Name: "dstload", APIHostPort: 1}}}); err != nil {
		t.Fatal(err)
	}
	comps, err := New(Options{Runtime: rt}).Status(context.Background(), env, st)
	if err != nil || len(comps) != 1 || comps[0].Health != provision.Gone {
		t.Errorf("status of a cluster with only its tools container: %+v, %v", comps, err)
	}

	rt = newFakeRuntime()
	rt.nodes = []*k3dtypes.Node{tools()}
	rt.failNode = "-server-0"
	st = &provision.State{Name: "dstload", Provider: ProviderName}
	err = New(Options{Runtime: rt, NoWorkloadImage: true}).Create(context.Background(), env, st, nopSave)
	if err == nil || !strings.Contains(err.Error(), "pull access denied") {
		t.Fatalf("got %v, want the create to be tried (and fail on the fake's image pull)", err)
	}
	if left := rt.nodeNames(); len(left) != 0 {
		t.Errorf("containers left after the rolled-back create: %v", left)
	}
}
