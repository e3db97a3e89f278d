package client

import (
	"slices"
	"testing"
	"time"

	"github.com/dstload/dstload/internal/dsttest"
	"github.com/dstload/dstload/internal/testutil"
	"github.com/dstload/dstload/workload/record"
)

// TestMissedEventRecordsHeldSet: a stream that misses an event records the
// set it held at the deadline, and from then on records its receipts even
// though it is not sampled; at the end of the run the set is the one the
// stream held, not the emptied one of a closed stream.
func TestMissedEventRecordsHeldSet(t *testing.T) {
	srv := dsttest.NewServer(dsttest.Options{})
	srv.SetEndpoints("ns/a", 80, endpoints(3, 1))
	addr, _ := serve(t, srv, "127.0.0.1:0")
	c, stop := startClient(t, Options{Addr: addr, StreamsPerService: 1, Services: []Service{{"ns", "a", 80}}})
	testutil.WaitFor(t, 10*time.Second, "snapshot", func() bool { return c.EndpointsHeld() == 3 })
	// Target 1 while the server keeps 3: the event is missed at the next one.
	c.OnEvent(record.ScaleEvent{Service: "ns/a", Seq: 1, Target: 1, Time: time.Now()})
	c.OnEvent(record.ScaleEvent{Service: "ns/a", Seq: 2, Target: 2, Time: time.Now()})
	srv.SetEndpoints("ns/a", 80, endpoints(2, 1))
	testutil.WaitFor(t, 10*time.Second, "remove", func() bool { return c.EndpointsHeld() == 2 })
	// The observer's ready set: the two endpoints the stream holds, and a
	// third it lacks.
	var three []string
	for _, ap := range endpoints(3, 1) {
		three = append(three, ap.String())
	}
	ready := func(string) (ReadySet, bool) { return NewReadySet(three), true }
	live := c.Lagging(time.Now().Add(time.Hour), ready)
	if len(live) != 0 {
		t.Errorf("Lagging = %+v, want none (event 2 converged)", live)
	}
	c.OnEvent(record.ScaleEvent{Service: "ns/a", Seq: 3, Target: 5, Time: time.Now()})
	if live := c.Lagging(time.Now().Add(time.Second), ready); len(live) != 1 || live[0].Seq != 3 || len(live[0].Stale) != 0 ||
		!slices.Equal(live[0].Missing, three[2:]) {
		t.Errorf("Lagging = %+v, want stream 0 waiting for event 3, lacking %s", live, three[2])
	}
	if live := c.Lagging(time.Now().Add(time.Second), func(string) (ReadySet, bool) { return NewReadySet(three[:1]), true }); len(live) != 1 ||
		!slices.Equal(live[0].Stale, three[1:2]) || len(live[0].Missing) != 0 {
		t.Errorf("Lagging against a ready set of one = %+v, want %s stale", live, three[1])
	}
	if live := c.Lagging(time.Now().Add(time.Second), func(string) (ReadySet, bool) { return ReadySet{}, false }); len(live) != 0 {
		t.Errorf("Lagging with no ready set = %+v, want none", live)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	s := c.Records()
	var missed []record.StreamConvergence
	for _, sc := range s.StreamConvergence {
		if sc.Missed {
			missed = append(missed, sc)
		}
	}
	want := func(n int) []string {
		var out []string
		for _, ap := range endpoints(n, 1) {
			out = append(out, ap.String())
		}
		return out
	}
	if len(missed) != 2 || missed[0].Seq != 1 || missed[1].Seq != 3 || missed[0].Deadline.IsZero() {
		t.Fatalf("missed records %+v", missed)
	}
	for i, n := range []int{3, 2} {
		got := slices.Clone(missed[i].Held)
		slices.Sort(got)
		if !slices.Equal(got, want(n)) {
			t.Errorf("event %d held %v, want %v", missed[i].Seq, got, want(n))
		}
	}
	if len(s.Receipts) != 1 || s.Receipts[0].Add || s.Receipts[0].Addr != endpoints(3, 1)[2].String() {
		t.Errorf("receipts of the unsampled stream after its miss: %+v, want the one Remove", s.Receipts)
	}
	if got, next := c.MissedSince(0); len(got) != 2 || next != len(s.StreamConvergence) {
		t.Errorf("MissedSince(0) = %d records, cursor %d", len(got), next)
	}
}
