package local

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/dstload/dstload/provision"
	"github.com/dstload/dstload/provision/fakenode"
)

// Delete stops every recorded process (newest first), verifies by PID that
// each is gone, and removes the provider's files.
func (p *Provider) Delete(ctx context.Context, env provision.Env, st *provision.State, save provision.SaveFunc) error {
	for i := len(st.Processes) - 1; i >= 0; i-- {
		proc := st.Processes[i]
		env.Progressf("stopping %s%s (pid %d)", clusterPrefix(proc.Cluster), proc.Name, proc.PID)
		if err := stopProcess(ctx, proc, 10*time.Second); err != nil {
			return err
		}
		if alive(proc) {
			return fmt.Errorf("%s (pid %d) is still running", proc.Name, proc.PID)
		}
		st.RemoveProcess(proc.Cluster, proc.Name)
		if err := save(st); err != nil {
			return err
		}
	}
	ps := envPaths(env.Dir)
	for _, path := range []string{ps.root, ps.logs, ps.kubeconfig, filepath.Join(env.Dir, targetDir)} {
		if err := os.RemoveAll(path); err != nil {
			return fmt.Errorf("remove %s: %w", path, err)
		}
	}
	st.Clusters = nil
	return save(st)
}

// Status checks every recorded process (identity, then health), the fake
// nodes and the destination controller. It changes nothing.
func (p *Provider) Status(ctx context.Context, env provision.Env, st *provision.State) ([]provision.ComponentStatus, error) {
	d, err := loadData(st)
	if err != nil {
		d = &data{} // an unreadable record: the processes are still checked
	}
	var out []provision.ComponentStatus
	for _, c := range clusters(env, d) {
		out = append(out, clusterStatus(ctx, st, d, c)...)
	}
	out = append(out, destinationStatus(ctx, st)...)
	return out, nil
}

// clusterStatus checks one control plane's processes and fake nodes.
func clusterStatus(ctx context.Context, st *provision.State, d *data, c localCluster) []provision.ComponentStatus {
	hc, err := healthClient(c.paths.pki)
	if err != nil {
		hc = nil // PKI gone (partial up or down): processes still get checked
	}
	var out []provision.ComponentStatus
	apiUp := false
	for _, proc := range st.Processes {
		if proc.Cluster != c.key {
			continue
		}
		cs := provision.ComponentStatus{Cluster: proc.Cluster, Name: proc.Name, PID: proc.PID, Address: proc.Addr}
		switch {
		case !alive(proc):
			cs.Health, cs.Detail = provision.Gone, "process is not running"
		case hc == nil:
			cs.Health, cs.Detail = provision.Unhealthy, "cluster PKI missing"
		default:
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			err := probe(pctx, hc, proc.HealthURL)
			cancel()
			if err != nil {
				cs.Health, cs.Detail = provision.Unhealthy, err.Error()
			} else {
				cs.Health = provision.Healthy
				if proc.Name == APIServer {
					apiUp = true
				}
			}
		}
		out = append(out, cs)
	}
	if d.Nodes > 0 {
		ns := provision.ComponentStatus{Cluster: c.key, Name: "nodes", Health: provision.Unhealthy}
		if !apiUp {
			ns.Detail = "apiserver unavailable"
		} else if cs, err := clientset(c.paths.kubeconfig); err != nil {
			ns.Detail = err.Error()
		} else {
			nctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			ready, err := fakenode.CountReady(nctx, cs)
			cancel()
			if err != nil {
				ns.Detail = err.Error()
			} else {
				ns.Detail = fmt.Sprintf("%d/%d fake nodes Ready", ready, d.Nodes)
				if ready >= d.Nodes {
					ns.Health = provision.Healthy
				}
			}
		}
		out = append(out, ns)
	}
	return out
}

// destinationStatus covers an external destination address or its absence;
// a supervised one is among the processes.
func destinationStatus(ctx context.Context, st *provision.State) []provision.ComponentStatus {
	c := st.Cluster("")
	if c == nil || c.DestinationSource == "process" {
		return nil
	}
	s := provision.ComponentStatus{Name: Destination, Address: c.DestinationAddr}
	if c.DestinationSource != "external" {
		s.Health, s.Detail = provision.Absent, "no destination controller; add one with --destination-bin PATH or --destination-addr HOST:PORT"
		return []provision.ComponentStatus{s}
	}
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := d.DialContext(dctx, "tcp", c.DestinationAddr)
	if err != nil {
		s.Health, s.Detail = provision.Unhealthy, err.Error()
		return []provision.ComponentStatus{s}
	}
	conn.Close()
	s.Health, s.Detail = provision.Healthy, "external (--destination-addr)"
	return []provision.ComponentStatus{s}
}
