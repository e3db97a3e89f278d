package report

import (
	"strings"
	"testing"

	"github.com/dstload/dstload/workload/record"
)

// TestByCluster: a federated run's figures split by the cluster whose
// change they measure, and an event's update latencies are its own
// cluster's changes only; a one-cluster run has no split.
func TestByCluster(t *testing.T) {
	const svc = "ns/a"
	federated := record.Set{
		ScaleEvents: []record.ScaleEvent{
			{Service: svc, Seq: 1, Target: 2, Expect: 3, Cluster: "tgt", Time: at(0)},
			{Service: svc, Seq: 2, Target: 2, Expect: 4, Cluster: "src", Time: at(1000)},
		},
		KubeConvergence: []record.KubeConvergence{
			{Service: svc, Seq: 1, Target: 2, Reached: true, Time: at(100)},
			{Service: svc, Seq: 2, Target: 2, Reached: true, Time: at(1100)},
		},
		Streams: []record.StreamInfo{{Client: "c", Stream: 1, Service: svc, Sampled: true, Opened: at(-1000)}},
		StreamConvergence: []record.StreamConvergence{
			{Client: "c", Stream: 1, Service: svc, Seq: 1, Target: 3, Converged: at(150)},
			{Client: "c", Stream: 1, Service: svc, Seq: 2, Target: 4, Converged: at(1300)},
		},
		// The target's second member is seen after the source's event:
		// still the target's event's change.
		EndpointChanges: []record.EndpointChange{
			{Service: svc, Addr: "10.128.0.2:8080", Ready: true, Time: at(1050), Cluster: "tgt"},
			{Service: svc, Addr: "10.160.0.2:8080", Ready: true, Time: at(1100), Cluster: "src"},
		},
		Receipts: []record.Receipt{
			{Client: "c", Stream: 1, Service: svc, Addr: "10.128.0.2:8080", Add: true, Time: at(1060)},
			{Client: "c", Stream: 1, Service: svc, Addr: "10.160.0.2:8080", Add: true, Time: at(1300)},
		},
	}
	tests := []struct {
		name    string
		set     record.Set
		want    []ClusterFigures
		perSeq  map[uint64]int // update latencies per event
		mdWants string
		// desired is the endpoints series' last desired total (0: not
		// checked): a federated service's union.
		desired int
	}{
		{
			name: "federated",
			set:  federated,
			want: []ClusterFigures{
				{Cluster: "src", Events: 1, Complete: 1},
				{Cluster: "tgt", Events: 1, Complete: 1},
			},
			perSeq:  map[uint64]int{1: 1, 2: 1},
			mdWants: "| ns/a in src | 2 | 2 (union 4) |",
			desired: 4,
		},
		{name: "one cluster", set: fixture(), perSeq: map[uint64]int{1: 2, 2: 2}, mdWants: "| dst/svc-0 | 1 | 3 |"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Build(Input{Scenario: mustScenario(t, testScenario), Started: at(-1000), Ended: at(13000), Records: tt.set})
			if len(r.ByCluster) != len(tt.want) {
				t.Fatalf("byCluster %+v, want %d entries", r.ByCluster, len(tt.want))
			}
			for i, w := range tt.want {
				c := r.ByCluster[i]
				if c.Cluster != w.Cluster || c.Events != w.Events || c.Complete != w.Complete || c.UpdateLatency.Count != 1 {
					t.Errorf("byCluster[%d] = %+v, want %+v with one update latency", i, c, w)
				}
			}
			for _, e := range r.Events {
				if e.UpdateLatency.Count != tt.perSeq[e.Seq] {
					t.Errorf("event %d: %d update latencies, want %d", e.Seq, e.UpdateLatency.Count, tt.perSeq[e.Seq])
				}
			}
			if n := len(r.Endpoints); tt.desired > 0 && (n == 0 || r.Endpoints[n-1].Desired != tt.desired) {
				t.Errorf("endpoints series %+v, want desired %d at the end", r.Endpoints, tt.desired)
			}
			var md strings.Builder
			if err := WriteMarkdown(&md, r, nil); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(md.String(), tt.mdWants) {
				t.Errorf("report.md lacks %q:\n%s", tt.mdWants, md.String())
			}
		})
	}
}
