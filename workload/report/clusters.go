package report

import (
	"sort"

	"github.com/dstload/dstload/workload/record"
)

// ClusterFigures are one cluster's share of a run whose endpoints live in
// two (federated): the update latencies of its endpoint changes, and the
// convergence of the events that scaled its members.
type ClusterFigures struct {
	Cluster string `json:"cluster"`
	// Events scaled this cluster's members; Complete of them every stream
	// converged on (held the union).
	Events           int       `json:"events"`
	Complete         int       `json:"complete"`
	UpdateLatency    Quantiles `json:"updateLatency"`
	KubeConvergence  Quantiles `json:"kubeConvergence"`
	FanoutCompletion Quantiles `json:"fanoutCompletion"`
}

// byCluster splits the figures by cluster; nil when the events name none
// (one cluster of endpoints).
func byCluster(a record.Analysis, events []Event) []ClusterFigures {
	type acc struct {
		events, complete  int
		upd, kube, fanout []float64
	}
	per := map[string]*acc{}
	get := func(c string) *acc {
		if per[c] == nil {
			per[c] = &acc{}
		}
		return per[c]
	}
	for _, e := range events {
		if e.Cluster == "" {
			continue
		}
		c := get(e.Cluster)
		c.events++
		if e.KubeReached {
			c.kube = append(c.kube, e.KubeConvergenceSeconds)
		}
		if e.FanoutComplete {
			c.complete++
			c.fanout = append(c.fanout, e.FanoutCompletionSeconds)
		}
	}
	if len(per) == 0 {
		return nil
	}
	for _, l := range a.UpdateLatencies {
		if l.Cluster != "" {
			get(l.Cluster).upd = append(get(l.Cluster).upd, l.Latency.Seconds())
		}
	}
	out := make([]ClusterFigures, 0, len(per))
	for name, c := range per {
		out = append(out, ClusterFigures{Cluster: name, Events: c.events, Complete: c.complete,
			UpdateLatency: quantiles(c.upd), KubeConvergence: quantiles(c.kube), FanoutCompletion: quantiles(c.fanout)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Cluster < out[j].Cluster })
	return out
}
