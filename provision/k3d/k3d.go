// Package k3d is the k3d provider: clusters of k3s in Docker containers,
// made through the k3d Go SDK (no k3d CLI), the way `k3d cluster create`
// makes them, plus the fake KWOK nodes and the workload image dstload needs.
//
// Files by concern: k3d.go options and checks of the settings, docker.go
// the Docker daemon (reachable, local), create.go making and restarting
// clusters, delete.go removing and reporting them, state.go the record in
// the state file, config.go the k3d config, internal.go addresses seen
// from inside the Docker network, workload.go the workload image.
package k3d

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/k3d-io/k3d/v5/pkg/client"
	"github.com/k3d-io/k3d/v5/pkg/runtimes"
	k3dtypes "github.com/k3d-io/k3d/v5/pkg/types"
	"github.com/k3d-io/k3d/v5/version"

	"github.com/dstload/dstload/provision"
)

// ProviderName is the provider's registry name.
const ProviderName = "k3d"

// Limits of the options.
const (
	DefaultNodes = 3
	MaxNodes     = 100
	MaxClusters  = 2
)

// SDKVersion is the k3d SDK version in go.mod. The k3d CLI of a release is
// built with that release stamped into version.Version, and its helper
// images (k3d-tools, k3d-proxy) carry the same tag.
const SDKVersion = "v5.9.0"

func init() {
	// A library build leaves version.Version empty, and the SDK then tags
	// its helper images :latest: whatever k3d-tools is newest on the day
	// would run against the v5.9.0 SDK. Pin them as the v5.9.0 CLI does.
	// This writes the SDK's own package variable, which is its only knob;
	// doing it in init keeps it ahead of every SDK call. K3D_HELPER_IMAGE_TAG
	// still wins (the SDK reads it first).
	if version.HelperVersionOverride == "" && version.Version == "" {
		version.HelperVersionOverride = strings.TrimPrefix(SDKVersion, "v")
	}
}

// Options configure the provider.
type Options struct {
	// EnvName is the environment name; the cluster names derive from it
	// (ClusterName) and Validate checks them ("" = checked by Create).
	EnvName string
	// Nodes is the number of KWOK fake nodes per cluster (default 3).
	Nodes int
	// Clusters is 1, or 2 for multicluster (default 1).
	Clusters int
	// K3sImage is the node image (default DefaultK3sImage).
	K3sImage string
	// Network is the shared Docker network (default k3d-dstload-<env>).
	Network string
	// APIPort fixes the first cluster's API server port on 127.0.0.1
	// (0 = a free port, as k3d's CLI picks).
	APIPort int
	// ReadyTimeout bounds cluster creation and the wait for readiness
	// (default 5 min: the first run pulls the k3s image).
	ReadyTimeout time.Duration
	// DockerTimeout bounds the check that the Docker daemon answers
	// (default 15s: a daemon that is starting answers within seconds).
	DockerTimeout time.Duration
	// WorkloadBinary is the static linux dstload binary the workload image
	// is assembled from ("" = the running executable). NoWorkloadImage
	// skips the image.
	WorkloadBinary  string
	NoWorkloadImage bool
	// Runtime is the container runtime (default k3d's Docker runtime).
	Runtime runtimes.Runtime

	// daemonHost returns the Docker endpoint the runtime talks to, for the
	// refusal of a remote daemon; New sets it with the Docker runtime, and
	// a fake runtime in a test has none.
	daemonHost func() (string, error)
	// unsupported names the user's settings this provider cannot honour;
	// Validate reports them.
	unsupported []string
}

// Provider is the k3d provider.
type Provider struct{ opts Options }

// New returns a k3d provider.
func New(opts Options) *Provider {
	if opts.Nodes == 0 {
		opts.Nodes = DefaultNodes
	}
	if opts.Clusters == 0 {
		opts.Clusters = 1
	}
	if opts.K3sImage == "" {
		opts.K3sImage = DefaultK3sImage
	}
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 5 * time.Minute
	}
	if opts.DockerTimeout == 0 {
		opts.DockerTimeout = 15 * time.Second
	}
	if opts.Runtime == nil {
		opts.Runtime = runtimes.Docker
		if opts.daemonHost == nil {
			opts.daemonHost = dockerDaemonHost
		}
	}
	return &Provider{opts: opts}
}

// Factory adapts New to the provider registry.
func Factory(cfg provision.Config) (provision.Provider, error) {
	o := Options{EnvName: cfg.Name, Nodes: cfg.Nodes, Clusters: cfg.Clusters, APIPort: cfg.APIPort}
	// On k3d Linkerd's destination controller runs in the cluster, and the
	// cluster is made here, not chosen from a kubeconfig.
	for flag, set := range map[string]bool{
		"--destination-bin":  cfg.DestinationBin != "",
		"--destination-addr": cfg.DestinationAddr != "",
		"--kubeconfig":       cfg.Kubeconfig != "",
		"--context":          cfg.Context != "",
	} {
		if set {
			o.unsupported = append(o.unsupported, flag)
		}
	}
	slices.Sort(o.unsupported)
	return New(o), nil
}

func (p *Provider) Name() string       { return ProviderName }
func (p *Provider) OwnsClusters() bool { return true }

// Info: k3s runs the pods; every node is a container on this host.
func (p *Provider) Info() provision.Capabilities {
	return provision.Capabilities{PodsRun: true, ClockSource: "single host: every k3d node is a container on this host, sharing its clock"}
}

// imageRefRE is a loose check of an image reference; the SDK and Docker
// give the precise error later, this one catches typos before anything is
// created.
var imageRefRE = regexp.MustCompile(`^[a-z0-9]+([._/:-][a-zA-Z0-9]+)*(@sha256:[a-f0-9]{64})?$`)

var networkRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// Validate checks the settings before anything is created, without asking
// the daemon anything: the options, the cluster names and that Docker is
// not a remote daemon. Preflight then checks that the daemon answers.
func (p *Provider) Validate() error {
	if err := p.validateOptions(p.opts.EnvName); err != nil {
		return err
	}
	return p.checkLocalDaemon()
}

// Preflight checks that the Docker daemon answers, before `up` writes
// anything: without Docker `up` then leaves no state behind, and `dstload
// up --provider local` works right after.
func (p *Provider) Preflight(ctx context.Context) error { return p.checkRuntime(ctx) }

func (p *Provider) validateOptions(env string) error {
	o := p.opts
	switch {
	case len(o.unsupported) > 0:
		return fmt.Errorf("%s: not used by provider k3d (Linkerd's destination controller runs in the k3d cluster); drop it, or use --provider local or kubeconfig", strings.Join(o.unsupported, ", "))
	case o.APIPort < 0 || o.APIPort > 65535:
		return fmt.Errorf("--api-port %d is not a port: use 1-65535, or 0 to pick one", o.APIPort)
	case o.Nodes < 1 || o.Nodes > MaxNodes:
		return fmt.Errorf("--nodes %d is out of range: use 1 to %d", o.Nodes, MaxNodes)
	case o.Clusters < 1 || o.Clusters > MaxClusters:
		return fmt.Errorf("--clusters %d is out of range: use 1 or 2", o.Clusters)
	case !imageRefRE.MatchString(o.K3sImage):
		return fmt.Errorf("k3s image %q is not an image reference (e.g. %s)", o.K3sImage, DefaultK3sImage)
	case o.Network != "" && !networkRE.MatchString(o.Network):
		return fmt.Errorf("network name %q is invalid: use letters, digits, '.', '_' or '-'", o.Network)
	case o.ReadyTimeout < 0:
		return fmt.Errorf("ready timeout %s is negative", o.ReadyTimeout)
	case o.DockerTimeout < 0:
		return fmt.Errorf("docker timeout %s is negative", o.DockerTimeout)
	}
	if env == "" {
		return nil
	}
	return checkClusterNames(env, o.Clusters)
}

// checkClusterNames applies k3d's own check (client.CheckName: an RFC 1123
// hostname of at most 32 characters) to every cluster name the environment
// will use, <name>-2 included: the SDK would refuse them only after the
// state was saved and the first cluster made.
func checkClusterNames(env string, clusters int) error {
	longest := len(ClusterName(env, clusters-1))
	for i := 0; i < clusters; i++ {
		name := ClusterName(env, i)
		if err := client.CheckName(name); err != nil {
			limit := k3dtypes.DefaultClusterNameMaxLength - (longest - len(env))
			return fmt.Errorf("--name %q makes k3d cluster name %q, which k3d refuses (%v): use letters, digits and inner '-' only, at most %d characters with --clusters %d",
				env, name, err, limit, clusters)
		}
	}
	return nil
}

// ClusterName is the k3d name of cluster i of an environment: the
// environment name, then <name>-2 for a second cluster.
func ClusterName(env string, i int) string {
	if i == 0 {
		return env
	}
	return fmt.Sprintf("%s-%d", env, i+1)
}

// NetworkName is the default Docker network of an environment.
func NetworkName(env string) string { return "k3d-dstload-" + env }

// KubeconfigPath is where cluster's kubeconfig is written.
func KubeconfigPath(envDir, cluster string, first bool) string {
	if first {
		return filepath.Join(envDir, "kubeconfig")
	}
	return filepath.Join(envDir, "kubeconfig-"+cluster)
}
