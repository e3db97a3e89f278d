package k3d

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/k3d-io/k3d/v5/pkg/client"
	runtimeerr "github.com/k3d-io/k3d/v5/pkg/runtimes/errors"
	k3dtypes "github.com/k3d-io/k3d/v5/pkg/types"
	"github.com/k3d-io/k3d/v5/pkg/types/fixes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/dstload/dstload/provision"
)

// Create makes the clusters (or keeps the healthy ones of an earlier run),
// writes their kubeconfigs into the state dir, creates the fake nodes and
// imports the workload image.
func (p *Provider) Create(ctx context.Context, env provision.Env, st *provision.State, save provision.SaveFunc) error {
	defer routeSDKLogs(env.Log)()
	if err := p.validateOptions(env.Name); err != nil {
		return err
	}
	if err := p.checkLocalDaemon(); err != nil {
		return err
	}
	if err := p.checkRuntime(ctx); err != nil {
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
	// GetNetwork is the runtime call that reports a missing network with
	// the typed error (GetNodesInNetwork and DeleteNetwork wrap Docker's).
	if _, err := p.opts.Runtime.GetNetwork(ctx, &k3dtypes.ClusterNetwork{Name: d.Network}); errors.Is(err, runtimeerr.ErrRuntimeNetworkNotExists) {
		d.NetworkCreated = true
	} else if err != nil {
		return fmt.Errorf("inspect docker network %s: %w", d.Network, err)
	}
	for i := 0; i < p.opts.Clusters; i++ {
		if err := p.ensureCluster(ctx, env, st, d, i, save); err != nil {
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

func (p *Provider) ensureCluster(ctx context.Context, env provision.Env, st *provision.State, d *data, i int, save provision.SaveFunc) error {
	name, first := ClusterName(env.Name, i), i == 0
	rec := d.cluster(name)
	existing, err := p.getCluster(ctx, env.Log, name)
	if err != nil {
		return err
	}
	switch {
	case existing != nil && rec == nil:
		// Not ours: never adopt (and later delete) a user's cluster.
		return fmt.Errorf("a k3d cluster named %s already exists and was not created by this environment; delete it or pick another --name", name)
	case existing != nil:
		if err := p.ensureRunning(ctx, env, existing); err != nil {
			return err
		}
	default:
		// No such cluster: never made, rolled back, or removed since. Its
		// API port is chosen now, not reused from the record: the old one
		// may be what failed ("port is already allocated"), and a new
		// --api-port must count.
		port, err := p.apiPort(first)
		if err != nil {
			return err
		}
		if rec == nil {
			d.Clusters = append(d.Clusters, clusterRec{Name: name})
			rec = d.cluster(name)
		}
		rec.APIHostPort = port
		rec.WorkloadImage = "" // a new cluster has none of the old one's images
		if err := storeData(st, d); err != nil {
			return err
		}
		if err := save(st); err != nil {
			return err
		}
		spec := ClusterSpec{Name: name, Index: i, Image: d.K3sImage, Network: d.Network, APIHostPort: port, Timeout: p.opts.ReadyTimeout}
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
	st.SetCluster(provision.Cluster{Name: name, Kubeconfig: kc, Context: ctxName, Server: server, LinkServer: InternalServer(name), WorkloadImage: rec.WorkloadImage})
	if err := storeData(st, d); err != nil {
		return err
	}
	if err := save(st); err != nil {
		return err
	}
	env.Progressf("cluster %s: waiting for the API server; creating %d fake nodes", name, d.Nodes)
	return prepareNodes(ctx, kc, ctxName, d.Nodes, p.opts.ReadyTimeout)
}

// getCluster returns the k3d cluster name, or nil when there is none. Only
// containers with a server node make a cluster: a failed create can leave
// its k3d-tools container behind (see createCluster), which ClusterGet
// alone would report as a cluster that can be neither started nor asked
// for a kubeconfig. Creating the cluster over it is safe: the SDK reuses an
// existing tools container, and Delete removes it with the cluster.
func (p *Provider) getCluster(ctx context.Context, log *slog.Logger, name string) (*k3dtypes.Cluster, error) {
	c, err := client.ClusterGet(ctx, p.opts.Runtime, &k3dtypes.Cluster{Name: name})
	if errors.Is(err, client.ClusterGetNoNodesFoundError) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up k3d cluster %s: %w", name, err)
	}
	for _, n := range c.Nodes {
		if n.Role == k3dtypes.ServerRole {
			return c, nil
		}
	}
	log.Info("k3d containers without a server node (left by a failed create): treating the cluster as absent", "cluster", name, "containers", len(c.Nodes))
	return nil, nil
}

// apiPort picks the API server's host port for a cluster about to be
// created: --api-port for the first cluster, checked to be free on
// 127.0.0.1 (Docker's "port is already allocated" comes only after the
// network and volumes were made), else a free port.
func (p *Provider) apiPort(first bool) (int, error) {
	if !first || p.opts.APIPort == 0 {
		return freePort()
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p.opts.APIPort)))
	if err != nil {
		return 0, fmt.Errorf("--api-port %d is in use on 127.0.0.1 (%v): pick another, or leave it out to use a free one", p.opts.APIPort, err)
	}
	l.Close()
	return p.opts.APIPort, nil
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
	if rbErr := p.rollbackCreate(rbCtx, spec.Name); rbErr != nil {
		return fmt.Errorf("create k3d cluster %s: %w (rollback failed too: %v; run 'dstload down')", spec.Name, runErr, rbErr)
	}
	return fmt.Errorf("create k3d cluster %s: %w (rolled back)", spec.Name, runErr)
}

// rollbackCreate removes what a failed ClusterRun left. ClusterRun starts
// the k3d-tools container in a goroutine and, when the cluster's own
// containers fail, returns without waiting for it: a rollback right away
// may run before that container exists, and the container then outlives
// the rollback holding the images volume. The goroutine holds the SDK's
// EnsureToolsNodeMutex while it creates the container, so waiting for the
// mutex waits for it; a second pass catches a goroutine that took the
// mutex only after the first wait.
func (p *Provider) rollbackCreate(ctx context.Context, name string) error {
	for range 2 {
		if err := waitToolsNode(ctx); err != nil {
			return err
		}
		if err := p.rollback(ctx, name); err != nil {
			return err
		}
	}
	return nil
}

// waitToolsNode waits until no k3d-tools container is being created.
func waitToolsNode(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		client.EnsureToolsNodeMutex.Lock()
		client.EnsureToolsNodeMutex.Unlock()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for k3d's tools container to be created: %w", ctx.Err())
	}
}

// rollback removes a cluster's containers through ClusterDelete (as the
// CLI does), and its volumes, which ClusterDelete cannot find when no
// container was created.
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
// stopped (a reboot, `docker stop`), as `k3d cluster start` does: it first
// gathers the environment (runtime info, the host gateway address), which
// the DNS fix of each node's start needs and the post-start step
// dereferences unchecked.
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
	envInfo, err := client.GatherEnvironmentInfo(ctx, p.opts.Runtime, c)
	if err != nil {
		return fmt.Errorf("start k3d cluster %s: gather environment info: %w", c.Name, err)
	}
	fromLabels, err := client.GetClusterStartOptsFromLabels(c)
	if err != nil {
		return fmt.Errorf("start k3d cluster %s: %w", c.Name, err)
	}
	opts := k3dtypes.ClusterStartOpts{
		Intent:          k3dtypes.IntentClusterStart,
		WaitForServer:   true,
		Timeout:         p.opts.ReadyTimeout,
		EnvironmentInfo: envInfo,
		HostAliases:     fromLabels.HostAliases,
	}
	fixes.GetFixes(p.opts.Runtime) // see createCluster
	if err := client.ClusterStart(ctx, p.opts.Runtime, c, opts); err != nil {
		return fmt.Errorf("start k3d cluster %s: %w; if it keeps failing, 'dstload down' and 'dstload up' make it anew", c.Name, err)
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
