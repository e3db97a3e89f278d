package runner

import (
	"context"
	"errors"

	"github.com/dstload/dstload/workload/record"
)

// observerSpec is what one observer process follows: a cluster (its
// kubeconfig and the `dstload observe` argv prefix, which on the local
// provider names that cluster's etcd). cluster is set only when a run
// observes two clusters (federated): it names the records' cluster and
// the process's files.
type observerSpec struct {
	command             []string
	kubeconfig, context string
	cluster             string
}

// observerSpecs are the run's observers: the endpoints' cluster's, and on a
// federated run the source's too, each following its own cluster so that
// every change is timed by a watch of the store it happened in.
func (c *Config) observerSpecs() []observerSpec {
	specs := []observerSpec{{command: c.ObserverCommand, kubeconfig: c.Kubeconfig, context: c.Context}}
	if !c.federated() {
		return specs
	}
	m := c.Multicluster
	specs[0].cluster = m.Target
	return append(specs, observerSpec{command: m.SourceObserverCommand, kubeconfig: m.SourceKubeconfig, context: m.SourceContext, cluster: m.Source})
}

// observers are the run's observer processes, read as one: counts add
// up, ready sets join (the clusters' pod addresses never overlap).
type observers []*observerProc

// readyEndpoints is the ready endpoints of every observed cluster (-1 when
// one cannot be read).
func (all observers) readyEndpoints(ctx context.Context) float64 {
	total := 0.0
	for _, o := range all {
		n := o.readyEndpoints(ctx)
		if n < 0 {
			return -1
		}
		total += n
	}
	return total
}

func (all observers) kubeMissed(ctx context.Context) int {
	total := 0
	for _, o := range all {
		if n := o.kubeMissed(ctx); n > 0 {
			total += n
		}
	}
	return total
}

func (all observers) readySet(ctx context.Context, service string) (map[string]bool, error) {
	out := map[string]bool{}
	for _, o := range all {
		rs, err := o.readySet(ctx, service)
		if err != nil {
			return nil, err
		}
		for a := range rs {
			out[a] = true
		}
	}
	return out, nil
}

// scrapeTargets are the observers' admin addresses by Prometheus component
// label: "observer", and "observer-<cluster>" for the source's.
func (all observers) scrapeTargets() map[string]string {
	out := map[string]string{}
	for i, o := range all {
		name := "observer"
		if i > 0 {
			name += "-" + o.cluster
		}
		out[name] = o.admin
	}
	return out
}

// stop ends every observer and returns their records, each change and
// process named by its cluster when there are two.
func (all observers) stop() (record.Set, error) {
	var sets []record.Set
	var errs []error
	for _, o := range all {
		s, err := o.stop()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if o.cluster != "" {
			for i := range s.EndpointChanges {
				s.EndpointChanges[i].Cluster = o.cluster
			}
			for i := range s.Processes {
				s.Processes[i].Process += "/" + o.cluster
			}
		}
		sets = append(sets, s)
	}
	return record.Merge(sets...), errors.Join(errs...)
}

func (all observers) kill() {
	for _, o := range all {
		o.kill()
	}
}
