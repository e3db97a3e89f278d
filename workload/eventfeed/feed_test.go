package eventfeed

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dstload/dstload/internal/testutil"
	"github.com/dstload/dstload/workload/record"
)

func TestFollowDeliversEveryEventOnce(t *testing.T) {
	f := New()
	srv := httptest.NewServer(f)
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan record.ScaleEvent, 10)
	go Follow(ctx, testutil.Discard(), srv.URL, func(e record.ScaleEvent) { got <- e })

	f.Append(record.ScaleEvent{Service: "ns/a", Seq: 1, Target: 3})
	start := time.Now()
	// Appended while the follower waits in a long poll: delivered at once.
	time.Sleep(50 * time.Millisecond)
	f.Append(record.ScaleEvent{Service: "ns/a", Seq: 2, Target: 1})
	f.Append(record.ScaleEvent{Service: "ns/b", Seq: 1, Target: 5})
	for i, want := range []struct {
		svc string
		seq uint64
	}{{"ns/a", 1}, {"ns/a", 2}, {"ns/b", 1}} {
		select {
		case e := <-got:
			if e.Service != want.svc || e.Seq != want.seq {
				t.Fatalf("event %d = %s #%d, want %s #%d", i, e.Service, e.Seq, want.svc, want.seq)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("event %d not delivered", i)
		}
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("events took %s; the long poll should deliver them at once", d)
	}
	select {
	case e := <-got:
		t.Fatalf("extra event %+v", e)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestBadRequests(t *testing.T) {
	f := New()
	for _, q := range []string{"after=-1", "after=x", "wait=soon"} {
		rec := httptest.NewRecorder()
		f.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/events?"+q, nil))
		if rec.Code != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", q, rec.Code)
		}
	}
	rec := httptest.NewRecorder()
	f.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/events?wait=10ms", nil))
	if rec.Code != http.StatusOK || rec.Body.Len() != 0 {
		t.Errorf("empty feed: status %d body %q, want 200 and nothing after the wait", rec.Code, rec.Body)
	}
}

// TestFollowRestartedFeed: a new churn process (new feed) is followed from
// its first event even though the follower had seen more of the old one.
func TestFollowRestartedFeed(t *testing.T) {
	old, next := New(), New()
	for i := range 3 {
		old.Append(record.ScaleEvent{Service: "ns/a", Seq: uint64(i + 1)})
	}
	var current atomic.Pointer[Feed]
	current.Store(old)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { current.Load().ServeHTTP(w, r) }))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan record.ScaleEvent, 10)
	go Follow(ctx, testutil.Discard(), srv.URL+"/events", func(e record.ScaleEvent) { got <- e })
	for range 3 {
		<-got
	}
	current.Store(next)
	next.Append(record.ScaleEvent{Service: "ns/a", Seq: 1, Target: 9})
	// The follower's long poll may still wait on the old feed (the real
	// old churn process would have closed it): end it.
	old.Append(record.ScaleEvent{Service: "ns/a", Seq: 4})
	if e := <-got; e.Seq != 4 {
		// The poll had already moved to the new feed.
		got <- e
	}
	select {
	case e := <-got:
		if e.Seq != 1 || e.Target != 9 {
			t.Errorf("after the restart got %+v, want the new feed's first event", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the restarted feed's first event never arrived")
	}
}

// TestFollowBacksOffFromNonFeed: a URL that answers at once but is not a
// feed (a wrong --events-url) must be retried with backoff, not hammered.
func TestFollowBacksOffFromNonFeed(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	Follow(ctx, testutil.Discard(), srv.URL, func(record.ScaleEvent) {
		t.Error("an event from a server that is not a feed")
	})
	// Backoff 100ms, 200ms, 400ms, ... allows a handful of requests a second.
	if n := hits.Load(); n == 0 || n > 6 {
		t.Fatalf("%d requests in 1s, want a few (backoff)", n)
	}
}
