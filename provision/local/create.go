package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/dstload/dstload/provision"
	"github.com/dstload/dstload/provision/fakenode"
)

// Create brings the control plane up, or resumes a partial one.
func (p *Provider) Create(ctx context.Context, env provision.Env, st *provision.State, save provision.SaveFunc) error {
	if err := p.Validate(); err != nil {
		return err
	}
	d, err := loadData(st)
	if err != nil {
		return err
	}
	if d.Nodes == 0 {
		d.Nodes = p.opts.Nodes
	}
	bins, err := ResolveBinaries(ctx, ResolveOptions{BinDir: p.opts.BinDir, CacheDir: p.opts.CacheDir, NoBuild: p.opts.NoBuild, Progress: env.Progress})
	if err != nil {
		return err
	}
	d.Bins = bins
	if d.Clusters, err = p.clusterCount(d); err != nil {
		return err
	}
	if d.Ports == nil {
		if d.Ports, err = pickPorts(p.opts.APIPort); err != nil {
			return err
		}
	}
	if d.Clusters > 1 && d.TargetPorts == nil {
		if d.TargetPorts, err = pickPorts(0); err != nil {
			return err
		}
	}
	// Everything above only checks; from here on things get made.
	cls := clusters(env, d)
	for _, c := range cls {
		for _, dir := range []string{c.paths.root, c.paths.pki, c.paths.etcd, c.paths.config, c.paths.logs} {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return fmt.Errorf("create %s: %w", dir, err)
			}
		}
	}
	if err := storeData(st, d); err != nil {
		return err
	}
	if err := save(st); err != nil {
		return err
	}
	// The clusters come up one after the other: each start is a burst of
	// CPU on a small machine, and the target's only reader before the
	// link is the user.
	for _, c := range cls {
		if err := p.createCluster(ctx, env, st, save, d, c); err != nil {
			if len(cls) > 1 {
				return fmt.Errorf("cluster %s: %w", c.name, err)
			}
			return err
		}
	}
	return save(st)
}

// createCluster brings one control plane up, or resumes it.
func (p *Provider) createCluster(ctx context.Context, env provision.Env, st *provision.State, save provision.SaveFunc, d *data, c localCluster) error {
	l := layout{paths: c.paths, ports: c.ports, bins: d.Bins, cluster: c.index}
	server := loopbackURL("https", c.ports[portAPI], "")
	if err := writeFiles(l, c.name, c.contextName, server); err != nil {
		return err
	}
	// Only the access fields: a resumed Create must keep the record of the
	// destination controller (its binary and flags), which `up` restarts
	// from it.
	cl := provision.Cluster{Name: c.name}
	if old := st.Cluster(c.name); old != nil && old.Name == c.name {
		cl = *old
	}
	cl.Kubeconfig, cl.Context, cl.Server = c.paths.kubeconfig, c.contextName, server
	st.SetCluster(cl)
	if err := save(st); err != nil {
		return err
	}

	cs, err := clientset(c.paths.kubeconfig)
	if err != nil {
		return err
	}
	started := time.Now()
	if err := p.startControlPlane(ctx, env, st, save, l, d, cs, c.key); err != nil {
		return err
	}
	env.Progressf("control plane %s ready; waiting for %d fake nodes", c.name, d.Nodes)
	if err := waitClusterReady(ctx, env.Log, cs, d.Nodes, p.opts.ReadyTimeout); err != nil {
		return err
	}
	env.Log.Debug("cluster ready", "cluster", c.name, "nodes", d.Nodes, "after", time.Since(started))
	return nil
}

// writeFiles writes what the components read before they start: the
// certificates, the admin kubeconfig, each component's kubeconfig and its
// configuration files.
func writeFiles(l layout, clusterName, ctxName, server string) error {
	comps := everyComponent(l)
	if _, err := ensurePKI(l.paths.pki, clusterName, comps); err != nil {
		return err
	}
	if err := writeKubeconfig(l.paths.kubeconfig, server, ctxName, l.paths.pki, admin.name, true); err != nil {
		return err
	}
	for _, c := range comps {
		if c.kubeconfig == "" {
			continue
		}
		if err := writeKubeconfig(l.kubeconfigPath(c.kubeconfig), server, ctxName, l.paths.pki, c.kubeconfig, false); err != nil {
			return err
		}
	}
	for _, c := range comps {
		for _, f := range c.configs {
			if err := f.write(l.config(f.name)); err != nil {
				return err
			}
		}
	}
	return nil
}

// startControlPlane starts every control-plane component that is not
// already running, then waits for each in turn. The apiserver retries etcd
// and the others retry the apiserver, so starting them together saves the
// sum of their start-up times. The components after the apiserver in start
// order are the ones that talk to it (afterAPIServer), so the apiserver is
// healthy by the time they are waited for.
func (p *Provider) startControlPlane(ctx context.Context, env provision.Env, st *provision.State, save provision.SaveFunc, l layout, d *data, cs kubernetes.Interface, key string) error {
	hc, err := healthClient(l.paths.pki)
	if err != nil {
		return err
	}
	comps := controlPlane(l)
	for _, c := range comps {
		if err := ctx.Err(); err != nil {
			return err
		}
		if rec := st.Process(key, c.name); rec != nil && alive(*rec) {
			env.Log.Debug("keeping running process", "name", c.name, "pid", rec.PID)
			continue
		}
		if _, err := startComponent(ctx, env, st, save, l, c, key, "starting "+clusterPrefix(key)+c.name); err != nil {
			return err
		}
	}
	started := time.Now()
	for _, c := range comps {
		err := waitHealthy(ctx, hc, *st.Process(key, c.name), p.opts.ReadyTimeout)
		if err != nil && c.afterAPIServer && ctx.Err() == nil && !alive(*st.Process(key, c.name)) {
			env.Log.Warn("component exited while the apiserver started; restarting it", "name", c.name, "err", err)
			if _, err = startComponent(ctx, env, st, save, l, c, key, "starting "+clusterPrefix(key)+c.name); err == nil {
				err = waitHealthy(ctx, hc, *st.Process(key, c.name), p.opts.ReadyTimeout)
			}
		}
		if err != nil {
			return err
		}
		env.Log.Debug("component ready", "name", c.name, "after", time.Since(started))
		if c.onReady != nil {
			if err := c.onReady(ctx, cs, d); err != nil {
				return err
			}
		}
	}
	return nil
}

// startComponent starts one component as a supervised process on the ports
// it was given and records it (not yet ready); progress is its line for the
// user, once its ports are free.
func startComponent(ctx context.Context, env provision.Env, st *provision.State, save provision.SaveFunc, l layout, c component, key, progress string) (provision.Process, error) {
	ports := make([]int, 0, len(c.ports))
	for _, port := range c.ports {
		ports = append(ports, port)
	}
	slices.Sort(ports)
	for _, port := range ports {
		if err := waitPortFree(ctx, port, 5*time.Second); err != nil {
			return provision.Process{}, fmt.Errorf("%s: %w; run 'dstload down' and 'dstload up' again (or pick --api-port)", c.name, err)
		}
	}
	env.Progressf("%s", progress)
	proc, err := startProcess(c.name, key, c.argv, append(os.Environ(), c.env...), filepath.Join(l.paths.logs, c.name+".log"))
	if err != nil {
		return provision.Process{}, err
	}
	proc.Addr, proc.HealthURL, proc.Ports = c.addr, c.health, c.ports
	st.SetProcess(proc)
	return proc, save(st)
}

// waitClusterReady waits until n fake nodes are Ready, the default
// ServiceAccount exists (pods are refused before it does) and the
// kubernetes Service has its EndpointSlice.
func waitClusterReady(ctx context.Context, log *slog.Logger, cs kubernetes.Interface, n int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var detail string
	nodesLogged := false
	for {
		ready, err := fakenode.CountReady(ctx, cs)
		switch {
		case err != nil:
			detail = err.Error()
		case ready < n:
			detail = fmt.Sprintf("%d/%d nodes Ready", ready, n)
		default:
			if !nodesLogged {
				nodesLogged = true
				log.Debug("fake nodes ready", "nodes", n)
			}
			_, err := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
			if err != nil {
				detail = "default ServiceAccount: " + err.Error()
				break
			}
			// Linkerd's destination controller refuses to start while the
			// cluster has no EndpointSlice at all; the kubernetes
			// Service's is the first.
			slices, err := cs.DiscoveryV1().EndpointSlices("default").List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=kubernetes"})
			if err == nil && len(slices.Items) > 0 {
				return nil
			}
			detail = "no EndpointSlice for the kubernetes Service yet"
		}
		select {
		case <-ctx.Done():
			if parent := context.Cause(ctx); errors.Is(parent, context.Canceled) {
				return parent
			}
			return fmt.Errorf("cluster not ready after %s: %s", timeout, detail)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
