// Package k3d is the k3d provider: clusters of k3s in Docker containers,
// made through the k3d Go SDK (no k3d CLI), the way `k3d cluster create`
// makes them, plus the fake KWOK nodes and the workload image dstload needs.
package k3d

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/k3d-io/k3d/v5/pkg/client"
	l "github.com/k3d-io/k3d/v5/pkg/logger"
	"github.com/k3d-io/k3d/v5/pkg/runtimes"
	runtimeerr "github.com/k3d-io/k3d/v5/pkg/runtimes/errors"
	k3dtypes "github.com/k3d-io/k3d/v5/pkg/types"
	"github.com/k3d-io/k3d/v5/pkg/types/fixes"
	"github.com/sirupsen/logrus"
	"k8s.io/client-go/tools/clientcmd"

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

// Options configure the provider.
type Options struct {
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
	// WorkloadBinary is the static linux dstload binary the workload image
	// is assembled from ("" = the running executable). NoWorkloadImage
	// skips the image.
	WorkloadBinary  string
	NoWorkloadImage bool
	// Runtime is the container runtime (default k3d's Docker runtime).
	Runtime runtimes.Runtime

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
	if opts.Runtime == nil {
		opts.Runtime = runtimes.Docker
	}
	return &Provider{opts: opts}
}

// Factory adapts New to the provider registry.
func Factory(cfg provision.Config) (provision.Provider, error) {
	o := Options{Nodes: cfg.Nodes, Clusters: cfg.Clusters, APIPort: cfg.APIPort}
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

// imageRefRE is a loose check of an image reference; the SDK and Docker
// give the precise error later, this one catches typos before anything is
// created.
var imageRefRE = regexp.MustCompile(`^[a-z0-9]+([._/:-][a-zA-Z0-9]+)*(@sha256:[a-f0-9]{64})?$`)

// Validate checks the options and that Docker answers, before anything is
// created: `dstload up` without Docker then leaves no state behind, and
// `dstload up --provider local` works right after.
func (p *Provider) Validate() error {
	if err := p.validateOptions(); err != nil {
		return err
	}
	return p.checkRuntime()
}

func (p *Provider) validateOptions() error {
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
	}
	return nil
}

var networkRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// DockerUnavailableError means the Docker daemon cannot be reached.
type DockerUnavailableError struct{ Err error }

func (e *DockerUnavailableError) Error() string {
	return fmt.Sprintf("Docker is not reachable (%s): start Docker, or use --provider local for a Docker-free cluster",
		strings.Join(strings.Fields(e.Err.Error()), " "))
}

func (e *DockerUnavailableError) Unwrap() error { return e.Err }

// checkRuntime fails with a DockerUnavailableError when the daemon does
// not answer. The SDK itself only logs such failures in places (ClusterGet
// reports "no nodes found"), so this runs before any SDK call.
func (p *Provider) checkRuntime() error {
	if _, err := p.opts.Runtime.Info(); err != nil {
		return &DockerUnavailableError{Err: err}
	}
	return nil
}

// data is the provider's record in State.ProviderData.
type data struct {
	Network string `json:"network"`
	// NetworkCreated is true when dstload created the network (then Delete
	// removes it once no cluster uses it).
	NetworkCreated bool         `json:"networkCreated,omitempty"`
	Clusters       []clusterRec `json:"clusters,omitempty"`
	// WorkloadImage is the imported dstload image ("" = none).
	WorkloadImage string `json:"workloadImage,omitempty"`
	Nodes         int    `json:"nodes"`
	K3sImage      string `json:"k3sImage"`
}

// clusterRec is recorded before the SDK is called, so that an interrupted
// create is cleaned up by Delete.
type clusterRec struct {
	Name        string `json:"name"`
	APIHostPort int    `json:"apiHostPort"`
}

func loadData(st *provision.State) (*data, error) {
	return provision.LoadProviderData[data](st, "k3d")
}

func storeData(st *provision.State, d *data) error { return provision.StoreProviderData(st, d) }

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

// InternalServer is the API server URL of a cluster as seen from the
// containers on the shared network (the other cluster's destination
// controller, when linking), where the host's 127.0.0.1:<port> means
// nothing: the server container's name and k3s' own port.
func InternalServer(cluster string) string {
	return "https://" + client.GenerateNodeName(cluster, k3dtypes.ServerRole, 0) + ":" + k3dtypes.DefaultAPIPort
}

// KubeconfigPath is where cluster's kubeconfig is written.
func KubeconfigPath(envDir, cluster string, first bool) string {
	if first {
		return filepath.Join(envDir, "kubeconfig")
	}
	return filepath.Join(envDir, "kubeconfig-"+cluster)
}

// Create makes the clusters (or keeps the healthy ones of an earlier run),
// writes their kubeconfigs into the state dir, creates the fake nodes and
// imports the workload image.
func (p *Provider) Create(ctx context.Context, env provision.Env, st *provision.State, save provision.SaveFunc) error {
	defer routeSDKLogs(env.Log)()
	if err := p.Validate(); err != nil {
		return err
	}
	d, err := loadData(st)
	if err != nil {
		return err
	}
	if d.Network == "" {
		d.Network = p.opts.Network
		if d.Network == "" {
			d.Network = NetworkName(env.Name)
		}
	}
	if d.Nodes == 0 {
		d.Nodes = p.opts.Nodes
	}
	if d.K3sImage == "" {
		d.K3sImage = p.opts.K3sImage
	}
	if _, err := p.opts.Runtime.GetNetwork(ctx, &k3dtypes.ClusterNetwork{Name: d.Network}); errors.Is(err, runtimeerr.ErrRuntimeNetworkNotExists) {
		d.NetworkCreated = true
	} else if err != nil {
		return fmt.Errorf("inspect docker network %s: %w", d.Network, err)
	}
	for i := 0; i < p.opts.Clusters; i++ {
		name := ClusterName(env.Name, i)
		if err := p.ensureCluster(ctx, env, st, d, name, i == 0, save); err != nil {
			return err
		}
	}
	if !p.opts.NoWorkloadImage {
		if err := p.importWorkloadImage(ctx, env, st, d, save); err != nil {
			return err
		}
	}
	return save(st)
}

func (p *Provider) ensureCluster(ctx context.Context, env provision.Env, st *provision.State, d *data, name string, first bool, save provision.SaveFunc) error {
	rt := p.opts.Runtime
	rec := d.cluster(name)
	existing, getErr := client.ClusterGet(ctx, rt, &k3dtypes.Cluster{Name: name})
	switch {
	case getErr == nil && rec == nil:
		// Not ours: never adopt (and later delete) a user's cluster.
		return fmt.Errorf("a k3d cluster named %s already exists and was not created by this environment; delete it or pick another --name", name)
	case getErr == nil:
		if err := p.ensureRunning(ctx, env, existing); err != nil {
			return err
		}
	default:
		if rec == nil {
			port := p.opts.APIPort
			if port == 0 || !first {
				var err error
				if port, err = freePort(); err != nil {
					return err
				}
			}
			d.Clusters = append(d.Clusters, clusterRec{Name: name, APIHostPort: port})
			rec = d.cluster(name)
		}
		if err := storeData(st, d); err != nil {
			return err
		}
		if err := save(st); err != nil {
			return err
		}
		spec := ClusterSpec{Name: name, Image: d.K3sImage, Network: d.Network, APIHostPort: rec.APIHostPort, Timeout: p.opts.ReadyTimeout}
		env.Progressf("creating k3d cluster %s (%s)", name, d.K3sImage)
		if err := p.createCluster(ctx, env.Log, spec); err != nil {
			return err
		}
	}

	kc, ctxName, err := p.writeKubeconfig(ctx, env, name, first)
	if err != nil {
		return err
	}
	cfg, err := clientcmd.LoadFromFile(kc)
	if err != nil {
		return fmt.Errorf("read kubeconfig %s: %w", kc, err)
	}
	server := ""
	if c := cfg.Contexts[ctxName]; c != nil && cfg.Clusters[c.Cluster] != nil {
		server = cfg.Clusters[c.Cluster].Server
	}
	st.SetCluster(provision.Cluster{Name: name, Kubeconfig: kc, Context: ctxName, Server: server})
	if err := storeData(st, d); err != nil {
		return err
	}
	if err := save(st); err != nil {
		return err
	}
	env.Progressf("cluster %s: waiting for the API server; creating %d fake nodes", name, d.Nodes)
	return prepareNodes(ctx, kc, ctxName, d.Nodes, p.opts.ReadyTimeout)
}

// createCluster is `k3d cluster create` without the CLI: build and check
// the config, ClusterRun, and roll back with ClusterDelete when it fails
// (the SDK leaves half-made clusters behind otherwise).
func (p *Provider) createCluster(ctx context.Context, log *slog.Logger, spec ClusterSpec) error {
	rt := p.opts.Runtime
	cc, err := ClusterConfig(ctx, rt, SimpleConfig(spec))
	if err != nil {
		return err
	}
	// The SDK fills its package-level autofix table on first use, and
	// ClusterRun's tools node and server creation do that concurrently (a
	// data race in k3d v5.9.0, seen with -race). Filling it here first
	// leaves them only reading it.
	fixes.GetFixes(rt)
	runErr := client.ClusterRun(ctx, rt, cc)
	if runErr == nil {
		return nil
	}
	// Roll back on a fresh context: the create may have failed because ctx
	// was cancelled (Ctrl-C), and the containers must go anyway.
	rbCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	log.Warn("k3d cluster create failed; rolling back", "cluster", spec.Name, "err", runErr)
	if rbErr := p.rollback(rbCtx, spec.Name); rbErr != nil {
		return fmt.Errorf("create k3d cluster %s: %w (rollback failed too: %v; run 'dstload down')", spec.Name, runErr, rbErr)
	}
	return fmt.Errorf("create k3d cluster %s: %w (rolled back)", spec.Name, runErr)
}

// rollback removes what a failed ClusterRun left: its containers through
// ClusterDelete (as the CLI does), and the cluster's volumes, which
// ClusterDelete cannot find when no container was created.
func (p *Provider) rollback(ctx context.Context, name string) error {
	rt := p.opts.Runtime
	err := client.ClusterDelete(ctx, rt, &k3dtypes.Cluster{Name: name}, k3dtypes.ClusterDeleteOpts{SkipRegistryCheck: true})
	if err != nil && !errors.Is(err, client.ClusterGetNoNodesFoundError) {
		return err
	}
	vols, verr := rt.GetVolumesByLabel(ctx, map[string]string{k3dtypes.LabelClusterName: name})
	if verr != nil {
		return fmt.Errorf("list volumes of cluster %s: %w", name, verr)
	}
	for _, v := range vols {
		if err := rt.DeleteVolume(ctx, v); err != nil {
			return fmt.Errorf("delete volume %s: %w", v, err)
		}
	}
	return nil
}

// ensureRunning starts the containers of a recorded cluster that were
// stopped (a reboot, `docker stop`).
func (p *Provider) ensureRunning(ctx context.Context, env provision.Env, c *k3dtypes.Cluster) error {
	stopped := false
	for _, n := range c.Nodes {
		if n.Role == k3dtypes.ServerRole && !n.State.Running {
			stopped = true
		}
	}
	if !stopped {
		return nil
	}
	env.Progressf("starting stopped k3d cluster %s", c.Name)
	opts, err := client.GetClusterStartOptsFromLabels(c)
	if err != nil {
		return fmt.Errorf("start k3d cluster %s: %w", c.Name, err)
	}
	opts.WaitForServer = true
	opts.Timeout = p.opts.ReadyTimeout
	if err := client.ClusterStart(ctx, p.opts.Runtime, c, opts); err != nil {
		return fmt.Errorf("start k3d cluster %s: %w", c.Name, err)
	}
	return nil
}

// writeKubeconfig fetches the cluster's admin kubeconfig from its server
// node and writes it (0600) into the state dir, never into the user's
// default kubeconfig.
func (p *Provider) writeKubeconfig(ctx context.Context, env provision.Env, name string, first bool) (path, context string, err error) {
	cfg, err := client.KubeconfigGet(ctx, p.opts.Runtime, &k3dtypes.Cluster{Name: name})
	if err != nil {
		return "", "", fmt.Errorf("kubeconfig of k3d cluster %s: %w", name, err)
	}
	path = KubeconfigPath(env.Dir, name, first)
	// clientcmd.WriteToFile creates the file 0600.
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return "", "", fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return "", "", fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return path, cfg.CurrentContext, nil
}

func (d *data) cluster(name string) *clusterRec {
	for i := range d.Clusters {
		if d.Clusters[i].Name == name {
			return &d.Clusters[i]
		}
	}
	return nil
}

// Delete removes the recorded clusters (newest first), their kubeconfigs,
// the image tarballs and, when dstload created it and nothing else uses
// it, the network. With nothing recorded it succeeds without Docker.
func (p *Provider) Delete(ctx context.Context, env provision.Env, st *provision.State, save provision.SaveFunc) error {
	d, err := loadData(st)
	if err != nil {
		return err
	}
	if len(d.Clusters) == 0 && !d.NetworkCreated {
		return nil
	}
	defer routeSDKLogs(env.Log)()
	if err := p.checkRuntime(); err != nil {
		return err
	}
	rt := p.opts.Runtime
	for i := len(d.Clusters) - 1; i >= 0; i-- {
		name := d.Clusters[i].Name
		env.Progressf("deleting k3d cluster %s", name)
		if err := p.rollback(ctx, name); err != nil {
			return fmt.Errorf("delete k3d cluster %s: %w", name, err)
		}
		for _, c := range st.Clusters {
			if c.Name == name && c.Kubeconfig != "" {
				if err := os.Remove(c.Kubeconfig); err != nil && !errors.Is(err, os.ErrNotExist) {
					return fmt.Errorf("remove kubeconfig: %w", err)
				}
			}
		}
		st.Clusters = slices.DeleteFunc(st.Clusters, func(c provision.Cluster) bool { return c.Name == name })
		d.Clusters = d.Clusters[:i]
		if err := storeData(st, d); err != nil {
			return err
		}
		if err := save(st); err != nil {
			return err
		}
	}
	if d.NetworkCreated {
		nodes, err := rt.GetNodesInNetwork(ctx, d.Network)
		switch {
		case errors.Is(err, runtimeerr.ErrRuntimeNetworkNotExists):
		case err != nil:
			return fmt.Errorf("inspect docker network %s: %w", d.Network, err)
		case len(nodes) > 0:
			env.Log.Warn("keeping docker network: other containers use it", "network", d.Network, "containers", len(nodes))
		default:
			if err := rt.DeleteNetwork(ctx, d.Network); err != nil && !errors.Is(err, runtimeerr.ErrRuntimeNetworkNotExists) {
				return fmt.Errorf("delete docker network %s: %w", d.Network, err)
			}
		}
		d.NetworkCreated = false
	}
	if err := os.RemoveAll(filepath.Join(env.Dir, imagesDir)); err != nil {
		return fmt.Errorf("remove image tarballs: %w", err)
	}
	d.WorkloadImage = ""
	if err := storeData(st, d); err != nil {
		return err
	}
	return save(st)
}

// Status reports each recorded cluster: its containers and its API server.
func (p *Provider) Status(ctx context.Context, env provision.Env, st *provision.State) ([]provision.ComponentStatus, error) {
	d, err := loadData(st)
	if err != nil {
		return nil, err
	}
	if len(d.Clusters) == 0 {
		return nil, nil
	}
	defer routeSDKLogs(env.Log)()
	var out []provision.ComponentStatus
	if err := p.checkRuntime(); err != nil {
		for _, c := range d.Clusters {
			out = append(out, provision.ComponentStatus{Cluster: c.Name, Name: "k3d-cluster", Health: provision.Unhealthy, Detail: err.Error()})
		}
		return out, nil
	}
	for _, rec := range d.Clusters {
		cs := provision.ComponentStatus{Cluster: rec.Name, Name: "k3d-cluster", Address: fmt.Sprintf("127.0.0.1:%d", rec.APIHostPort)}
		c, err := client.ClusterGet(ctx, p.opts.Runtime, &k3dtypes.Cluster{Name: rec.Name})
		if err != nil {
			cs.Health, cs.Detail = provision.Gone, "no k3d containers: run 'dstload up' to recreate it"
			out = append(out, cs)
			continue
		}
		var down []string
		for _, n := range c.Nodes {
			if !n.State.Running {
				down = append(down, n.Name+" "+n.State.Status)
			}
		}
		cs.Health = provision.Healthy
		if len(down) > 0 {
			cs.Health, cs.Detail = provision.Unhealthy, "not running: "+strings.Join(down, ", ")
		} else if cl := st.Cluster(rec.Name); cl != nil {
			if err := apiReady(ctx, cl.Kubeconfig, cl.Context); err != nil {
				cs.Health, cs.Detail = provision.Unhealthy, "API server: "+err.Error()
			}
		}
		out = append(out, cs)
	}
	if d.WorkloadImage != "" {
		out = append(out, provision.ComponentStatus{Name: "workload-image", Health: provision.Healthy, Detail: d.WorkloadImage})
	}
	return out, nil
}

// WorkloadImage returns the dstload image imported into the clusters of
// st, split for the chart's image.repository and image.tag; ok is false
// when none was imported (then the chart's published image is used).
func WorkloadImage(st *provision.State) (repository, tag string, ok bool) {
	d, err := loadData(st)
	if err != nil || d.WorkloadImage == "" {
		return "", "", false
	}
	i := strings.LastIndex(d.WorkloadImage, ":")
	if i < 0 {
		return "", "", false
	}
	return d.WorkloadImage[:i], d.WorkloadImage[i+1:], true
}

// routeSDKLogs sends the k3d SDK's logrus output to log and returns the
// function that restores it. The SDK logs through one global logrus
// logger; without this it would print its own lines on stderr.
func routeSDKLogs(log *slog.Logger) (restore func()) {
	lg := l.Log()
	out, hooks, level := lg.Out, lg.Hooks, lg.GetLevel()
	lg.SetOutput(io.Discard)
	lg.ReplaceHooks(logrus.LevelHooks{})
	lg.AddHook(slogHook{log: log})
	// The Docker client copies this level onto logrus' standard logger,
	// which prints to stderr: ask for debug lines only when they are wanted.
	lg.SetLevel(logrus.InfoLevel)
	if log != nil && log.Enabled(context.Background(), slog.LevelDebug) {
		lg.SetLevel(logrus.DebugLevel)
	}
	return func() {
		lg.SetOutput(out)
		lg.ReplaceHooks(hooks)
		lg.SetLevel(level)
	}
}

type slogHook struct{ log *slog.Logger }

func (h slogHook) Levels() []logrus.Level { return logrus.AllLevels }

func (h slogHook) Fire(e *logrus.Entry) error {
	if h.log == nil {
		return nil
	}
	level := slog.LevelDebug
	switch {
	case e.Level <= logrus.ErrorLevel:
		level = slog.LevelError
	case e.Level == logrus.WarnLevel:
		level = slog.LevelWarn
	case e.Level == logrus.InfoLevel:
		// The SDK's info lines are progress chatter for a CLI user.
		level = slog.LevelDebug
	}
	h.log.Log(context.Background(), level, strings.TrimSpace(e.Message), "source", "k3d")
	return nil
}
