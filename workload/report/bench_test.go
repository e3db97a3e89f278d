package report

import (
	"fmt"
	"testing"
	"time"

	"github.com/dstload/dstload/workload/record"
	"github.com/dstload/dstload/workload/scenario"
)

// bigSet is a many-services-shaped run shrunk to benchmark size: services x
// events, streams per service (a sample of them recording receipts), and the
// endpoints that change per event.
func bigSet(services, events, streamsPerSvc, sampledPerSvc, change int) record.Set {
	var s record.Set
	for v := range services {
		svc := fmt.Sprintf("ns/svc-%03d", v)
		for st := range streamsPerSvc {
			s.Streams = append(s.Streams, record.StreamInfo{Client: "c", Stream: uint32(v*streamsPerSvc + st), Service: svc,
				Sampled: st < sampledPerSvc, Opened: t0})
		}
		for e := range events {
			written := t0.Add(time.Duration(e+1) * time.Minute)
			ready := e%2 == 0
			s.ScaleEvents = append(s.ScaleEvents, record.ScaleEvent{Service: svc, Seq: uint64(e + 1), Target: 100, Time: written})
			s.KubeConvergence = append(s.KubeConvergence, record.KubeConvergence{Service: svc, Seq: uint64(e + 1), Target: 100, Reached: true, Time: written.Add(2 * time.Second)})
			for a := range change {
				addr := fmt.Sprintf("10.%d.%d.%d:80", v, a/250, a%250)
				obs := written.Add(time.Duration(a) * 10 * time.Millisecond)
				s.EndpointChanges = append(s.EndpointChanges, record.EndpointChange{Service: svc, Addr: addr, Ready: ready, Time: obs})
				for st := range sampledPerSvc {
					s.Receipts = append(s.Receipts, record.Receipt{Client: "c", Stream: uint32(v*streamsPerSvc + st), Service: svc, Addr: addr, Add: ready,
						Time: obs.Add(time.Duration(st%50) * time.Millisecond)})
				}
			}
			for st := range streamsPerSvc {
				s.StreamConvergence = append(s.StreamConvergence, record.StreamConvergence{Client: "c", Stream: uint32(v*streamsPerSvc + st), Service: svc,
					Seq: uint64(e + 1), Target: 100, FirstChange: written.Add(time.Second), Converged: written.Add(2*time.Second + time.Duration(st)*time.Millisecond)})
			}
		}
	}
	return s
}

// BenchmarkBuild measures the report on top of record.Analyze (the join it
// calls) for 20 services x 6 events, 100 streams per service (10 sampled),
// 50 endpoint changes per event: 60,000 receipts, 12,000 stream-events.
// The Analyze-only run is the same-run baseline for the ratio.
func BenchmarkBuild(b *testing.B) {
	set := bigSet(20, 6, 100, 10, 50)
	s, err := scenario.Parse([]byte(`
name: bench
services: {count: 20}
churn: {pattern: oscillate, min: 50, max: 100, holdMax: 1m, holdMin: 1m, cycles: 3}
clients: {streams: 2000}
criteria: [{metric: update_latency_p99, max: 1s}, {metric: fanout_completion_max, max: 10s}]
`), "bench")
	if err != nil {
		b.Fatal(err)
	}
	b.Run("analyze-only", func(b *testing.B) {
		for b.Loop() {
			record.Analyze(set)
		}
	})
	b.Run("build", func(b *testing.B) {
		for b.Loop() {
			Build(Input{Scenario: s, Started: t0, Ended: t0.Add(10 * time.Minute), Records: set})
		}
	})
}
