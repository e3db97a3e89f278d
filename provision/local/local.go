// Package local is the Docker-free provider: a Kubernetes control plane of
// host processes (etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler, kwok with fake nodes) and optionally Linkerd's destination
// controller and a Prometheus server (--monitoring), supervised by dstload. The processes outlive `dstload up`
// (their own sessions; PIDs, start times and command lines in the state
// file) and are stopped by `dstload down`.
//
// Layout under the environment directory:
//
//	kubeconfig        admin kubeconfig (self-contained, 0600)
//	local/pki/        cluster CA, serving and client certificates, SA key
//	local/etcd/       etcd data
//	local/config/     per-component kubeconfigs, kwok stages, scheduler and Prometheus config
//	local/prometheus/ Prometheus' TSDB (data/) and file_sd files (targets/)
//	logs/<name>.log   each process's stdout and stderr
package local

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/dstload/dstload/provision"
	"github.com/dstload/dstload/provision/fakenode"
)

// ProviderName is the registry name of this provider.
const ProviderName = "local"

// Defaults and limits.
const (
	DefaultNodes = 3
	// MaxNodes bounds --nodes: each node gets its own /16 pod CIDR out of
	// 10.128.0.0/9.
	MaxNodes = fakenode.Max
	// DefaultDestinationImage is Linkerd's controller image of the chart
	// version dstload installs.
	DefaultDestinationImage = "cr.l5d.io/linkerd/controller:edge-26.8.3"
)

// Names of the supervised processes, in start order.
const (
	Etcd              = "etcd"
	APIServer         = "kube-apiserver"
	ControllerManager = "kube-controller-manager"
	Scheduler         = "kube-scheduler"
	Kwok              = "kwok"
	Destination       = "destination"
)

// Options configure the provider.
type Options struct {
	// Nodes is the number of fake nodes (default 3).
	Nodes int
	// BinDir holds all control-plane binaries; "" = PATH, then cache,
	// then build.
	BinDir string
	// CacheDir overrides the binaries cache (default DefaultCacheDir()).
	CacheDir string
	// NoBuild forbids building missing binaries.
	NoBuild bool
	// APIPort fixes the apiserver port on 127.0.0.1; 0 picks a free one.
	APIPort int
	// Destination controller: at most one of Bin and Addr; with neither,
	// Image is pulled and unpacked (default DefaultDestinationImage).
	// NoDestination skips it altogether (tests of the cluster alone).
	DestinationBin   string
	DestinationAddr  string
	DestinationImage string
	NoDestination    bool
	// DestinationArgs are extra controller flags; with DestinationArgsSet
	// false the recorded ones are kept.
	DestinationArgs    []string
	DestinationArgsSet bool
	// DestinationRestart replaces a running controller even when it is
	// the one asked for.
	DestinationRestart bool
	// ImageCacheDir overrides where unpacked controller binaries are kept.
	ImageCacheDir string
	// ReadyTimeout bounds the wait for each component (default 60 s).
	ReadyTimeout time.Duration
	// Clusters is 1 (one cluster) or 2 (a source and a target, each a
	// control plane of its own); 0 keeps what the environment records.
	Clusters int
	// Monitoring runs Prometheus (prometheus.go) from PrometheusBin, else
	// PATH; with MonitoringSet false the environment keeps what it has.
	Monitoring    bool
	MonitoringSet bool
	PrometheusBin string
}

// Provider is the local provider.
type Provider struct {
	opts Options
	// prometheusBin is the binary Validate found for --monitoring.
	prometheusBin string
}

// New returns a local provider.
func New(opts Options) *Provider {
	if opts.Nodes == 0 {
		opts.Nodes = DefaultNodes
	}
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 60 * time.Second
	}
	return &Provider{opts: opts}
}

// Factory adapts New to the provider registry.
func Factory(cfg provision.Config) (provision.Provider, error) {
	return New(Options{
		Nodes:            cfg.Nodes,
		BinDir:           cfg.BinDir,
		APIPort:          cfg.APIPort,
		DestinationBin:   cfg.DestinationBin,
		DestinationAddr:  cfg.DestinationAddr,
		DestinationImage: cfg.DestinationImage,
		Clusters:         cfg.Clusters,
		Monitoring:       cfg.Monitoring,
		MonitoringSet:    cfg.MonitoringSet,
		PrometheusBin:    cfg.PrometheusBin,

		DestinationArgs:    cfg.DestinationArgs,
		DestinationArgsSet: cfg.DestinationArgsSet,
		DestinationRestart: cfg.DestinationRestart,
	}), nil
}

func (p *Provider) Name() string       { return ProviderName }
func (p *Provider) OwnsClusters() bool { return true }

// Info: the nodes are KWOK fakes (no pod runs), and everything, the
// workload of `dstload run` included, runs on this host.
func (p *Provider) Info() provision.Capabilities {
	return provision.Capabilities{PodsRun: false, ClockSource: "single host clock", DestinationHint: DestinationHint}
}

// Validate checks the options before anything is created.
func (p *Provider) Validate() error {
	o := p.opts
	switch {
	case o.Clusters < 0 || o.Clusters > 2:
		return fmt.Errorf("--clusters %d: provider local makes 1 cluster or 2 (a source and a target)", o.Clusters)
	case o.Nodes < 1 || o.Nodes > MaxNodes:
		return fmt.Errorf("--nodes %d is out of range: use 1 to %d", o.Nodes, MaxNodes)
	case o.Clusters == 2 && o.Nodes > MaxNodes/2:
		// Linked clusters split the fake nodes' pod range.
		return fmt.Errorf("--nodes %d is out of range with --clusters 2: use 1 to %d", o.Nodes, MaxNodes/2)
	case o.APIPort < 0 || o.APIPort > 65535:
		return fmt.Errorf("--api-port %d is not a port: use 1-65535, or 0 to pick one", o.APIPort)
	case o.DestinationBin != "" && o.DestinationAddr != "":
		return errors.New("--destination-bin and --destination-addr exclude each other: give one")
	}
	if o.DestinationBin != "" && !isExecutable(o.DestinationBin) {
		return fmt.Errorf("--destination-bin %s is not an executable file", o.DestinationBin)
	}
	if o.DestinationAddr != "" && len(o.DestinationArgs) > 0 {
		return errors.New("--destination-arg needs a controller dstload runs: drop --destination-addr, or pass the flags to the controller you run")
	}
	if err := checkDestinationArgs(o.DestinationArgs); err != nil {
		return err
	}
	if o.Monitoring {
		bin, err := resolvePrometheus(o.PrometheusBin)
		if err != nil {
			return err
		}
		p.prometheusBin = bin
	}
	if o.DestinationAddr != "" {
		if _, port, err := net.SplitHostPort(o.DestinationAddr); err != nil || port == "" {
			return fmt.Errorf("--destination-addr %q is not host:port (e.g. 127.0.0.1:8086)", o.DestinationAddr)
		}
	}
	if o.BinDir != "" {
		if fi, err := os.Stat(o.BinDir); err != nil || !fi.IsDir() {
			return fmt.Errorf("--bin-dir %s is not a directory", o.BinDir)
		}
	}
	return nil
}

// data is the provider's record in State.ProviderData: the settings a
// resumed Create must reuse.
type data struct {
	Nodes int `json:"nodes"`
	// Ports are the source's (the only cluster's) ports.
	Ports map[string]int `json:"ports"`
	Bins  Binaries       `json:"binaries"`
	// Clusters is 2 for a source and a target (0 or 1: one cluster);
	// TargetPorts are the target's ports.
	Clusters    int            `json:"clusters,omitempty"`
	TargetPorts map[string]int `json:"targetPorts,omitempty"`
}

func loadData(st *provision.State) (*data, error) {
	return provision.LoadProviderData[data](st, "local")
}

func storeData(st *provision.State, d *data) error { return provision.StoreProviderData(st, d) }

// paths of an environment.
type paths struct {
	root, pki, etcd, config, logs, kubeconfig string
}

func envPaths(envDir string) paths {
	root := filepath.Join(envDir, "local")
	return paths{
		root:       root,
		pki:        filepath.Join(root, "pki"),
		etcd:       filepath.Join(root, "etcd"),
		config:     filepath.Join(root, "config"),
		logs:       filepath.Join(envDir, "logs"),
		kubeconfig: filepath.Join(envDir, "kubeconfig"),
	}
}

// ContextName is the kubeconfig context of an environment's local cluster.
func ContextName(envName string) string { return "dstload-" + envName }
