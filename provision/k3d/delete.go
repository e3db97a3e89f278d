package k3d

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	runtimeerr "github.com/k3d-io/k3d/v5/pkg/runtimes/errors"
	k3dtypes "github.com/k3d-io/k3d/v5/pkg/types"

	"github.com/dstload/dstload/provision"
)

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
	if err := p.checkRuntime(ctx); err != nil {
		return err
	}
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
		if err := p.deleteNetwork(ctx, env, d.Network); err != nil {
			return err
		}
		d.NetworkCreated = false
	}
	if err := os.RemoveAll(filepath.Join(env.Dir, imagesDir)); err != nil {
		return fmt.Errorf("remove image tarballs: %w", err)
	}
	if err := storeData(st, d); err != nil {
		return err
	}
	return save(st)
}

// deleteNetwork removes the environment's network unless other containers
// use it. The network may not exist: it is recorded before the create, and
// a create can fail before k3d made it (a bad name, an exhausted address
// pool, Ctrl-C). Only the runtime's GetNetwork says so with the typed
// ErrRuntimeNetworkNotExists; GetNodesInNetwork and DeleteNetwork wrap
// Docker's NotFound, which is checked for the network vanishing in between.
func (p *Provider) deleteNetwork(ctx context.Context, env provision.Env, name string) error {
	rt := p.opts.Runtime
	_, err := rt.GetNetwork(ctx, &k3dtypes.ClusterNetwork{Name: name})
	switch {
	case errors.Is(err, runtimeerr.ErrRuntimeNetworkNotExists):
		return nil
	case err != nil && !errors.Is(err, runtimeerr.ErrRuntimeNetworkMultiSameName):
		return fmt.Errorf("inspect docker network %s: %w", name, err)
	}
	nodes, err := rt.GetNodesInNetwork(ctx, name)
	switch {
	case cerrdefs.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("inspect docker network %s: %w", name, err)
	case len(nodes) > 0:
		env.Log.Warn("keeping docker network: other containers use it", "network", name, "containers", len(nodes))
		return nil
	}
	err = rt.DeleteNetwork(ctx, name)
	switch {
	case err == nil, cerrdefs.IsNotFound(err):
		return nil
	case errors.Is(err, runtimeerr.ErrRuntimeNetworkNotEmpty):
		// A container joined since the check; it is not ours to remove.
		env.Log.Warn("keeping docker network: other containers use it", "network", name)
		return nil
	}
	return fmt.Errorf("delete docker network %s: %w; remove it with 'docker network rm %s' once unused", name, err, name)
}

// Status reports each recorded cluster: its containers, its API server and
// the workload image imported into it.
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
	if err := p.checkRuntime(ctx); err != nil {
		for _, c := range d.Clusters {
			out = append(out, provision.ComponentStatus{Cluster: c.Name, Name: "k3d-cluster", Health: provision.Unhealthy, Detail: err.Error()})
		}
		return out, nil
	}
	for _, rec := range d.Clusters {
		cs := provision.ComponentStatus{Cluster: rec.Name, Name: "k3d-cluster", Address: fmt.Sprintf("127.0.0.1:%d", rec.APIHostPort)}
		c, err := p.getCluster(ctx, env.Log, rec.Name)
		switch {
		case err != nil:
			cs.Health, cs.Detail = provision.Unhealthy, err.Error()
			out = append(out, cs)
			continue
		case c == nil:
			cs.Health, cs.Detail = provision.Gone, "no k3d server container: run 'dstload up' to recreate it"
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
		if rec.WorkloadImage != "" {
			out = append(out, provision.ComponentStatus{Cluster: rec.Name, Name: "workload-image", Health: provision.Healthy, Detail: rec.WorkloadImage})
		}
	}
	return out, nil
}
