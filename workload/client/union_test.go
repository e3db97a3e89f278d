package client

import (
	"testing"
	"time"

	"github.com/dstload/dstload/internal/dsttest"
	"github.com/dstload/dstload/internal/testutil"
	"github.com/dstload/dstload/workload/record"
)

// TestUnionConvergence: a stream converges on an event when it holds the
// event's Want(): on a federated run the union (Expect) of both clusters'
// members, not the scaled cluster's own Target.
func TestUnionConvergence(t *testing.T) {
	tests := []struct {
		name           string
		target, expect int
		converged      bool
	}{
		{"one cluster: the target", 5, 0, true},
		{"federated: the union, not the cluster's target", 2, 5, true},
		{"federated: the cluster's target alone is not the union", 5, 7, false},
	}
	srv := dsttest.NewServer(dsttest.Options{})
	srv.SetEndpoints("ns/a", 80, endpoints(5, 1))
	addr, _ := serve(t, srv, "127.0.0.1:0")
	c, stop := startClient(t, Options{Addr: addr, StreamsPerService: 1, Services: []Service{{"ns", "a", 80}}})
	testutil.WaitFor(t, 10*time.Second, "snapshot", func() bool { return c.EndpointsHeld() == 5 })
	for i, tt := range tests {
		c.OnEvent(record.ScaleEvent{Service: "ns/a", Seq: uint64(i + 1), Target: tt.target, Expect: tt.expect, Time: time.Now()})
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	got := map[uint64]record.StreamConvergence{}
	for _, sc := range c.Records().StreamConvergence {
		got[sc.Seq] = sc
	}
	for i, tt := range tests {
		sc, ok := got[uint64(i+1)]
		switch {
		case !ok:
			t.Errorf("%s: no convergence record", tt.name)
		case !sc.Converged.IsZero() != tt.converged || sc.Missed == tt.converged:
			t.Errorf("%s: converged %v missed %v, want converged %v", tt.name, sc.Converged, sc.Missed, tt.converged)
		case sc.Target != (record.ScaleEvent{Target: tt.target, Expect: tt.expect}).Want():
			t.Errorf("%s: recorded target %d, want what the stream converges to", tt.name, sc.Target)
		}
	}
}
