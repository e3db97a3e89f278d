package runner

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/dstload/dstload/charts"
	"github.com/dstload/dstload/workload/report"
	"github.com/dstload/dstload/workload/scenario"
)

// Multicluster is a run on a linked pair of clusters. Config.Kubeconfig is
// then the target cluster, where the endpoints live (remote-discovery:
// targets, churn and observer; federated: one half of each, the source
// holding the other); the clients' streams go to the source's destination
// controller (Config.DestinationAddr), which resolves the mirror Services
// it holds through its link; the clients' nodes are the source's.
type Multicluster struct {
	// Mode is the scenario's (scenario.RemoteDiscovery, Federated).
	Mode string
	// Source and Target name the clusters; SourceKubeconfig and
	// SourceContext reach the source, where the mirrors appear.
	Source, Target                  string
	SourceKubeconfig, SourceContext string
	// SourceObserverCommand (federated) is the `dstload observe` argv
	// prefix that follows the source's store, as Config.ObserverCommand
	// follows the target's.
	SourceObserverCommand []string
}

// Remote-discovery labels on a mirror Service (Linkerd's pkg/k8s/labels.go).
const (
	remoteDiscoveryLabel = "multicluster.linkerd.io/remote-discovery"
	remoteServiceLabel   = "multicluster.linkerd.io/remote-service"
)

// mirrorName is the mirror of a target Service in the source.
func (m *Multicluster) mirrorName(svc string) string { return svc + "-" + m.Target }

// querySuffix turns a target's name into what the clients ask for: its
// mirror's on a linked pair, its own on one cluster.
func (c *Config) querySuffix() string {
	switch {
	case c.Multicluster == nil:
		return ""
	case c.federated():
		return federatedSuffix
	}
	return "-" + c.Multicluster.Target
}

// targetValues are the chart values of the targets of a multicluster run:
// the static part, exported for remote discovery.
func (c *Config) targetValues(tg *Targets) map[string]any {
	if c.Multicluster == nil {
		return nil
	}
	vals := charts.StaticOnly()
	t := map[string]any{"count": tg.Count, "replicas": tg.Replicas, "namePrefix": namePrefix, "export": scenario.RemoteDiscovery}
	if c.federated() {
		delete(t, "export")
		t["labels"] = map[string]any{federatedLabel: "member"}
	}
	vals["targets"] = t
	return vals
}

// clusters is the report's statement of where the measured changes happen
// and where they are seen.
func (c *Config) clusters() *report.Clusters {
	m := c.Multicluster
	if m == nil {
		return nil
	}
	if c.federated() {
		return &report.Clusters{Mode: m.Mode, Endpoints: m.Source + "," + m.Target, Clients: m.Source}
	}
	return &report.Clusters{Mode: m.Mode, Endpoints: m.Target, Clients: m.Source}
}

// waitMirrors waits until the source holds every target's mirror Service
// labelled for remote discovery of it (Linkerd's service-mirror makes them
// when it sees the exported Services in the target).
func (r *run) waitMirrors(ctx context.Context, tg *Targets) error {
	m := r.cfg.Multicluster
	cs, err := r.source()
	if err != nil {
		return err
	}
	r.progressf("waiting for the mirror Services in %s", m.Source)
	svc, err := r.waitServices(ctx, tg.Names(), func(ctx context.Context, svc string) error { return mirrorReady(ctx, cs, tg.Namespace, svc, m) })
	if err != nil {
		return fmt.Errorf("mirror of %s/%s in cluster %s: %v (is the service-mirror running? 'dstload status')", tg.Namespace, svc, m.Source, err)
	}
	return nil
}

// waitServices checks each of names every 200ms until check passes, for
// at most ReadyTimeout in all (check's ctx ends then); on timeout it
// returns the service that was still failing and check's last error.
func (r *run) waitServices(ctx context.Context, names []string, check func(ctx context.Context, svc string) error) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.ReadyTimeout)
	defer cancel()
	for _, svc := range names {
		for {
			err := check(ctx, svc)
			if err == nil {
				break
			}
			select {
			case <-ctx.Done():
				return svc, err
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	return "", nil
}

// source connects to the source cluster (once).
func (r *run) source() (kubernetes.Interface, error) {
	if r.sourceCS != nil {
		return r.sourceCS, nil
	}
	m := r.cfg.Multicluster
	rc, err := restConfig(m.SourceKubeconfig, m.SourceContext)
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("source cluster client: %w", err)
	}
	r.sourceCS = cs
	return cs, nil
}

func mirrorReady(ctx context.Context, cs kubernetes.Interface, ns, svc string, m *Multicluster) error {
	mirror, err := cs.CoreV1().Services(ns).Get(ctx, m.mirrorName(svc), metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return fmt.Errorf("no Service %s yet", m.mirrorName(svc))
	case err != nil:
		return err
	case mirror.Labels[remoteDiscoveryLabel] != m.Target || mirror.Labels[remoteServiceLabel] != svc:
		return fmt.Errorf("Service %s is not a remote-discovery mirror of %s in %s", m.mirrorName(svc), svc, m.Target)
	}
	return nil
}

// clientsCS is the cluster of the clients' nodes: the controller under test
// reads a client's node (its zone) in its own cluster, the source.
func (r *run) clientsCS() kubernetes.Interface {
	if r.sourceCS != nil {
		return r.sourceCS
	}
	return r.cs
}
