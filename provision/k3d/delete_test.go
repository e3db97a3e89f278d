package k3d

import (
	"context"
	"slices"
	"strings"
	"testing"

	cerrdefs "github.com/containerd/errdefs"
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
