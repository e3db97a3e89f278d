// Package provision creates, removes and reports dstload environments.
//
// An environment is a name with a state directory (<state-dir>/<name>, mode
// 0700) holding the trust root, kubeconfigs, logs and the state file that
// records what was created, so that Down removes exactly that. A Provider
// makes the clusters (local host processes, k3d, or an existing kubeconfig
// context); Lifecycle runs the steps around it (trust root, the Helm stack
// hook, the destination controller) and keeps the state file current.
package provision

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
)

// Env is what every provider and hook is given: the environment's identity,
// its directory and where to report.
type Env struct {
	// Name is the environment name (--name), e.g. "dstload".
	Name string
	// Dir is <state-dir>/<name>, created with mode 0700 before any step runs.
	Dir string
	// Log receives structured diagnostics.
	Log *slog.Logger
	// Progress receives short human progress lines ("starting etcd"); it may
	// be io.Discard.
	Progress io.Writer
}

// Progressf writes one progress line.
func (e Env) Progressf(format string, args ...any) {
	if e.Progress != nil {
		fmt.Fprintf(e.Progress, format+"\n", args...)
	}
}

// Provider makes and removes the clusters of an environment.
//
// Contract, shared by every implementation:
//   - Create records everything it creates in st as it goes and calls
//     save(st) after each externally visible step (a process started, a
//     cluster created), so that an interrupted Create leaves a state that
//     Delete can clean up and a later Create can resume from.
//   - Create is idempotent: given a state from an earlier (possibly partial)
//     Create it keeps what is healthy and creates what is missing.
//   - Create fills st.Clusters (kubeconfig path, context, server) before it
//     returns successfully, and returns only when the clusters are ready
//     (API server answers, nodes Ready). That record is how everyone else
//     finds a cluster's kubeconfig (State.Cluster), whatever the provider.
//   - Delete removes exactly what st records, succeeds when it records
//     nothing, and calls save(st) as it removes things.
//   - Status never changes anything.
//
// Optional interfaces a provider may add (see environment.go): Validator
// (check settings before anything is made), Preflighter (check that what it
// runs on answers, before anything is made), ClusterOwner (Delete removes
// the clusters, so Down skips the stack's uninstall), DestinationRunner (run
// the destination controller as a host process after the stack), and
// Reconfigurer (a changed setting makes Up resume an environment that is
// already up).
type Provider interface {
	// Name is the provider's registry name ("local", "k3d", "kubeconfig").
	Name() string
	// Info states what the provider's clusters can do; it needs no
	// settings (a provider built from a zero Config answers it).
	Info() Capabilities
	Create(ctx context.Context, env Env, st *State, save SaveFunc) error
	Delete(ctx context.Context, env Env, st *State, save SaveFunc) error
	Status(ctx context.Context, env Env, st *State) ([]ComponentStatus, error)
}

// DestinationRunner is implemented by providers that run Linkerd's
// destination controller as a host process (local). Lifecycle.Up calls it
// after the stack hook, because the controller needs the Linkerd CRDs.
type DestinationRunner interface {
	StartDestination(ctx context.Context, env Env, st *State, save SaveFunc) error
}

// SaveFunc persists st; providers call it after every step they take.
type SaveFunc func(st *State) error

// Health of a component.
const (
	Healthy   = "healthy"
	Unhealthy = "unhealthy"
	Gone      = "gone"   // recorded, but its process or cluster no longer exists
	Absent    = "absent" // not configured (e.g. no destination controller)
)

// ComponentStatus is one line of `dstload status`.
type ComponentStatus struct {
	Cluster string `json:"cluster,omitempty"`
	Name    string `json:"name"`
	PID     int    `json:"pid,omitempty"`
	Address string `json:"address,omitempty"`
	Health  string `json:"health"`
	// Detail says why a component is not healthy, or what it is.
	Detail string `json:"detail,omitempty"`
}

// Config carries the user's provider settings (the flags of `dstload up`).
// Each provider reads the fields it understands and rejects settings that
// make no sense for it.
type Config struct {
	// Name is the environment name (--name). Lifecycle.Up sets it, so
	// that a provider whose resources are named after the environment (k3d
	// clusters) can check those names before anything is saved.
	Name string
	// Nodes is the number of KWOK fake nodes (default 3).
	Nodes int
	// Clusters is the number of clusters (multicluster; default 1).
	Clusters int
	// BinDir holds the local control-plane binaries (--bin-dir,
	// DSTLOAD_BIN_DIR).
	BinDir string
	// APIPort fixes the local apiserver port; 0 picks a free one.
	APIPort int
	// DestinationBin runs this destination controller binary (--destination-bin).
	DestinationBin string
	// DestinationArgs are extra flags for the supervised destination
	// controller (--destination-arg, repeatable); DestinationArgsSet says
	// they were given, so that a plain `up` keeps the recorded ones.
	DestinationArgs    []string
	DestinationArgsSet bool
	// DestinationRestart restarts the supervised destination controller
	// even when binary and flags are unchanged (dstload ab starts every
	// run from a fresh controller, on both sides alike).
	DestinationRestart bool
	// DestinationAddr uses an already running destination controller
	// (--destination-addr host:port).
	DestinationAddr string
	// DestinationImage is the controller image to unpack when neither of
	// the two above is given.
	DestinationImage string
	// Monitoring runs a Prometheus server as a supervised process (local;
	// the others install kube-prometheus-stack through the stack hook).
	// MonitoringSet says it was decided (`up` always decides; a Lifecycle
	// user that leaves it unset keeps what the environment has).
	// PrometheusBin is its binary (--prometheus-bin; "" = PATH).
	Monitoring    bool
	MonitoringSet bool
	PrometheusBin string
	// Kubeconfig and Context select an existing cluster (provider kubeconfig).
	Kubeconfig string
	Context    string
}

// Factory builds a provider from the user's settings; it validates them and
// returns a usage-style error (one line naming the fix) when they are wrong.
type Factory func(cfg Config) (Provider, error)

// Registry selects a provider by name. It is a value built by the caller
// (cmd/dstload registers the providers it links in), not global state.
type Registry struct {
	factories map[string]Factory
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{factories: map[string]Factory{}} }

// Register adds a provider under name, replacing an earlier one.
func (r *Registry) Register(name string, f Factory) { r.factories[name] = f }

// Names lists the registered providers, sorted.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.factories))
	for n := range r.factories {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// UnknownProviderError is returned for a provider name nobody registered.
type UnknownProviderError struct {
	Name      string
	Available []string
}

func (e *UnknownProviderError) Usage() {}

func (e *UnknownProviderError) Error() string {
	return fmt.Sprintf("provider %q is not available in this build (available: %s); use --provider local for a Docker-free cluster",
		e.Name, strings.Join(e.Available, ", "))
}

// New builds the named provider.
func (r *Registry) New(name string, cfg Config) (Provider, error) {
	f, ok := r.factories[name]
	if !ok {
		return nil, &UnknownProviderError{Name: name, Available: r.Names()}
	}
	return f(cfg)
}
