package k3d

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/k3d-io/k3d/v5/pkg/runtimes"
	runtimeerr "github.com/k3d-io/k3d/v5/pkg/runtimes/errors"
	k3dtypes "github.com/k3d-io/k3d/v5/pkg/types"

	"github.com/dstload/dstload/provision"
)

// down finishes whatever state the network is in, the missing network of a
// create that failed before k3d made it included.
func TestDeleteNetwork(t *testing.T) {
	net := NetworkName("dstload")
	other := &k3dtypes.Node{Name: "someone-elses", Networks: []string{net}}
	for _, tc := range []struct {
		name string
		// setup prepares the runtime and returns the create's error wanted
		// ("" = no create).
		setup   func(rt *fakeRuntime) string
		wantNet bool // the network is still there after down
	}{
		{"create failed before the network existed", func(rt *fakeRuntime) string {
			rt.failNetwork = &dockerError{msg: "all predefined address pools have been fully subnetted", errdef: cerrdefs.ErrPermissionDenied}
			return "address pools"
		}, false},
		{"create failed after the network existed", func(rt *fakeRuntime) string {
			rt.failNode = "-server-0"
			return "pull access denied"
		}, false},
		{"network removed by hand since", func(rt *fakeRuntime) string {
			rt.failNode = "-server-0"
			return "pull access denied"
		}, false},
		{"another container uses the network", func(rt *fakeRuntime) string {
			rt.failNode = "-server-0"
			return "pull access denied"
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := newFakeRuntime()
			env := testEnv(t)
			p := New(Options{Runtime: rt, NoWorkloadImage: true})
			st := &provision.State{Name: "dstload", Provider: ProviderName}
			want := tc.setup(rt)
			if err := p.Create(context.Background(), env, st, nopSave); err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("create: got %v, want %q", err, want)
			}
			switch tc.name {
			case "network removed by hand since":
				delete(rt.networks, net)
			case "another container uses the network":
				rt.nodes = append(rt.nodes, other)
			}
			if err := p.Delete(context.Background(), env, st, nopSave); err != nil {
				t.Fatalf("down: %v", err)
			}
			if d, _ := loadData(st); len(d.Clusters) != 0 || d.NetworkCreated {
				t.Errorf("state still records %+v", d)
			}
			if rt.networks[net] != tc.wantNet {
				t.Errorf("network exists: %v, want %v", rt.networks[net], tc.wantNet)
			}
			if tc.wantNet && !slices.Contains(rt.nodeNames(), other.Name) {
				t.Errorf("down removed another environment's container")
			}
		})
	}
}

// The fake runtime's network errors are the Docker runtime's: the same
// class (typed ErrRuntimeNetworkNotExists, or Docker's NotFound) and the
// same text, the real one asked through the Docker client of a fake
// daemon.
func TestFakeRuntimeErrorsMatchDocker(t *testing.T) {
	startFakeDockerd(t)
	ctx := context.Background()
	const name = "k3d-dstload-gone"
	fake := newFakeRuntime()
	for _, tc := range []struct {
		call string
		run  func(rt runtimes.Runtime) error
	}{
		{"GetNetwork", func(rt runtimes.Runtime) error {
			_, err := rt.GetNetwork(ctx, &k3dtypes.ClusterNetwork{Name: name})
			return err
		}},
		{"GetNodesInNetwork", func(rt runtimes.Runtime) error { _, err := rt.GetNodesInNetwork(ctx, name); return err }},
		{"DeleteNetwork", func(rt runtimes.Runtime) error { return rt.DeleteNetwork(ctx, name) }},
		{"GetNode", func(rt runtimes.Runtime) error {
			_, err := rt.GetNode(ctx, &k3dtypes.Node{Name: "k3d-gone-server-0"})
			return err
		}},
		{"DeleteNode", func(rt runtimes.Runtime) error { return rt.DeleteNode(ctx, &k3dtypes.Node{Name: "k3d-gone-server-0"}) }},
	} {
		t.Run(tc.call, func(t *testing.T) {
			real, faked := tc.run(runtimes.Docker), tc.run(fake)
			if real == nil || faked == nil {
				t.Fatalf("docker: %v, fake: %v", real, faked)
			}
			if errors.Is(real, runtimeerr.ErrRuntimeNetworkNotExists) != errors.Is(faked, runtimeerr.ErrRuntimeNetworkNotExists) ||
				cerrdefs.IsNotFound(real) != cerrdefs.IsNotFound(faked) || real.Error() != faked.Error() {
				t.Errorf("docker: %v (typed %v, NotFound %v)\nfake:   %v (typed %v, NotFound %v)",
					real, errors.Is(real, runtimeerr.ErrRuntimeNetworkNotExists), cerrdefs.IsNotFound(real),
					faked, errors.Is(faked, runtimeerr.ErrRuntimeNetworkNotExists), cerrdefs.IsNotFound(faked))
			}
		})
	}
}

// down of an environment whose network was never made, through the SDK's
// Docker runtime against a fake daemon.
func TestDeleteMissingNetworkDocker(t *testing.T) {
	startFakeDockerd(t)
	env := testEnv(t)
	st := &provision.State{Name: "dstload", Provider: ProviderName}
	if err := storeData(st, &data{Network: NetworkName("dstload"), NetworkCreated: true, Clusters: []clusterRec{{Name: "dstload", APIHostPort: 41234}}}); err != nil {
		t.Fatal(err)
	}
	if err := New(Options{}).Delete(context.Background(), env, st, nopSave); err != nil {
		t.Fatalf("down: %v", err)
	}
	if d, _ := loadData(st); len(d.Clusters) != 0 || d.NetworkCreated {
		t.Errorf("state still records %+v", d)
	}
}
