package k3d

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/k3d-io/k3d/v5/pkg/runtimes"
	runtimeerr "github.com/k3d-io/k3d/v5/pkg/runtimes/errors"
	runtimetypes "github.com/k3d-io/k3d/v5/pkg/runtimes/types"
	k3dtypes "github.com/k3d-io/k3d/v5/pkg/types"
)

// fakeRuntime stands in for Docker, which cannot run here. It keeps
// networks, volumes and containers in maps and returns the errors k3d's
// Docker runtime returns (pkg/runtimes/docker), wrapped as it wraps them:
// only GetNetwork reports a missing network with the typed
// ErrRuntimeNetworkNotExists; GetNodesInNetwork and DeleteNetwork wrap
// Docker's NotFound. TestFakeRuntimeErrorsMatchDocker holds the two side
// by side against the fake Docker daemon. Methods the SDK must not reach
// panic (nil embedded interface).
type fakeRuntime struct {
	runtimes.Runtime
	mu       sync.Mutex
	networks map[string]bool
	volumes  map[string]map[string]string // name -> labels
	nodes    []*k3dtypes.Node
	created  []*k3dtypes.Node // every CreateNode call that succeeded
	failNode string           // CreateNode fails for names with this suffix
	// failNetwork makes CreateNetworkIfNotPresent fail with it.
	failNetwork error
	// beforeCreate, when set, runs (unlocked) before a node is created.
	beforeCreate func(n *k3dtypes.Node)
	deleted      []string
}

func newFakeRuntime() *fakeRuntime {
	return &fakeRuntime{networks: map[string]bool{}, volumes: map[string]map[string]string{}}
}

// dockerError is an error as the Docker client returns it for an HTTP
// error status (its unexported httpError): the daemon's message, matching
// the containerd errdefs class of the status.
type dockerError struct {
	msg    string
	errdef error
}

func (e *dockerError) Error() string        { return "Error response from daemon: " + e.msg }
func (e *dockerError) Is(target error) bool { return errors.Is(e.errdef, target) }

func dockerNotFound(format string, args ...any) error {
	return &dockerError{msg: fmt.Sprintf(format, args...), errdef: cerrdefs.ErrNotFound}
}

func (f *fakeRuntime) ID() string      { return "fake" }
func (f *fakeRuntime) GetHost() string { return "" }
func (f *fakeRuntime) Info() (*runtimetypes.RuntimeInfo, error) {
	return &runtimetypes.RuntimeInfo{Name: "fake"}, nil
}
func (f *fakeRuntime) GetRuntimePath() string                      { return "/fake.sock" }
func (f *fakeRuntime) GetImages(context.Context) ([]string, error) { return nil, nil }

func (f *fakeRuntime) GetNetwork(_ context.Context, n *k3dtypes.ClusterNetwork) (*k3dtypes.ClusterNetwork, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.networks[n.Name] {
		return nil, runtimeerr.ErrRuntimeNetworkNotExists
	}
	return &k3dtypes.ClusterNetwork{Name: n.Name, ID: "id-" + n.Name}, nil
}

func (f *fakeRuntime) CreateNetworkIfNotPresent(_ context.Context, n *k3dtypes.ClusterNetwork) (*k3dtypes.ClusterNetwork, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.networks[n.Name] {
		return &k3dtypes.ClusterNetwork{Name: n.Name, ID: "id-" + n.Name}, true, nil
	}
	if f.failNetwork != nil {
		return nil, false, fmt.Errorf("docker failed to create new network '%s': %w", n.Name, f.failNetwork)
	}
	f.networks[n.Name] = true
	out := *n
	out.ID = "id-" + n.Name
	return &out, false, nil
}

func (f *fakeRuntime) DeleteNetwork(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.networks[name] {
		return fmt.Errorf("docker failed to remove network '%s': %w", name, dockerNotFound("network %s not found", name))
	}
	for _, n := range f.nodes {
		if slices.Contains(n.Networks, name) {
			return runtimeerr.ErrRuntimeNetworkNotEmpty
		}
	}
	delete(f.networks, name)
	f.deleted = append(f.deleted, "network/"+name)
	return nil
}

func (f *fakeRuntime) GetNodesInNetwork(_ context.Context, name string) ([]*k3dtypes.Node, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.networks[name] {
		return nil, fmt.Errorf("failed to get network '%s': %w", name, dockerNotFound("network %s not found", name))
	}
	var out []*k3dtypes.Node
	for _, n := range f.nodes {
		if slices.Contains(n.Networks, name) {
			out = append(out, n)
		}
	}
	return out, nil
}

func (f *fakeRuntime) CreateVolume(_ context.Context, name string, labels map[string]string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.volumes[name] = labels
	return nil
}

func (f *fakeRuntime) GetVolumesByLabel(_ context.Context, labels map[string]string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for name, l := range f.volumes {
		if matches(l, labels) {
			out = append(out, name)
		}
	}
	return out, nil
}

func (f *fakeRuntime) DeleteVolume(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.volumes, name)
	f.deleted = append(f.deleted, "volume/"+name)
	return nil
}

func (f *fakeRuntime) GetNodesByLabel(_ context.Context, labels map[string]string) ([]*k3dtypes.Node, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*k3dtypes.Node
	for _, n := range f.nodes {
		if matches(n.RuntimeLabels, labels) {
			out = append(out, n)
		}
	}
	return out, nil
}

func (f *fakeRuntime) CreateNode(_ context.Context, n *k3dtypes.Node) error {
	if f.beforeCreate != nil {
		f.beforeCreate(n)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failNode != "" && strings.HasSuffix(n.Name, f.failNode) {
		return fmt.Errorf("failed to create container for node '%s': docker failed to create container '%s': %w", n.Name, n.Name,
			&dockerError{msg: "pull access denied for rancher/k3s, repository does not exist", errdef: cerrdefs.ErrPermissionDenied})
	}
	for _, x := range f.nodes {
		if x.Name == n.Name {
			return fmt.Errorf("failed to create container for node '%s': docker failed to create container '%s': %w", n.Name, n.Name,
				&dockerError{msg: fmt.Sprintf("Conflict. The container name \"/%s\" is already in use", n.Name), errdef: cerrdefs.ErrConflict})
		}
	}
	f.nodes = append(f.nodes, n)
	f.created = append(f.created, n)
	return nil
}

func (f *fakeRuntime) DeleteNode(_ context.Context, n *k3dtypes.Node) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !slices.ContainsFunc(f.nodes, func(x *k3dtypes.Node) bool { return x.Name == n.Name }) {
		return fmt.Errorf("docker failed to remove the container '%s': %w", n.Name, dockerNotFound("No such container: %s", n.Name))
	}
	f.nodes = slices.DeleteFunc(f.nodes, func(x *k3dtypes.Node) bool { return x.Name == n.Name })
	f.deleted = append(f.deleted, "node/"+n.Name)
	return nil
}

func (f *fakeRuntime) StartNode(_ context.Context, n *k3dtypes.Node) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.find(n.Name) == nil {
		return fmt.Errorf("failed to get container for node '%s': Didn't find container for node '%s'", n.Name, n.Name)
	}
	n.State.Running = true
	return nil
}

func (f *fakeRuntime) GetNode(_ context.Context, n *k3dtypes.Node) (*k3dtypes.Node, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if x := f.find(n.Name); x != nil {
		return x, nil
	}
	// As the Docker runtime: the node asked for, and an error.
	return n, fmt.Errorf("failed to get container for node '%s': Didn't find container for node '%s'", n.Name, n.Name)
}

func (f *fakeRuntime) find(name string) *k3dtypes.Node {
	for _, x := range f.nodes {
		if x.Name == name {
			return x
		}
	}
	return nil
}

func (f *fakeRuntime) nodeNames() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, n := range f.nodes {
		out = append(out, n.Name)
	}
	return out
}

func matches(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}
