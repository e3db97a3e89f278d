package dsttest

import (
	"context"
	"testing"
	"time"

	pb "github.com/linkerd/linkerd2-proxy-api/go/destination"
	"google.golang.org/protobuf/proto"
)

// TestWithholdRemove: the withheld endpoint's Remove never reaches a stream
// and a new stream's snapshot still has it, until the hold ends.
func TestWithholdRemove(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s := NewServer(Options{})
	s.SetEndpoints("ns/a", 80, eps(3))
	c := dial(t, s)
	recv := func() <-chan *pb.Update {
		st, err := c.Get(ctx, &pb.GetDestination{Scheme: "k8s", Path: "a.ns.svc.cluster.local:80"})
		if err != nil {
			t.Fatal(err)
		}
		ch := make(chan *pb.Update, 8)
		go func() {
			for {
				u, err := st.Recv()
				if err != nil {
					close(ch)
					return
				}
				ch <- u
			}
		}()
		return ch
	}
	old := recv()
	if u := <-old; len(u.GetAdd().GetAddrs()) != 3 {
		t.Fatalf("snapshot %v", u)
	}
	const hold = 300 * time.Millisecond
	withheld := s.WithholdRemove(hold)
	start := time.Now()
	s.SetEndpoints("ns/a", 80, eps(1)) // 10.0.0.2 and 10.0.0.3 leave
	w := <-withheld
	if w.Service != "ns/a" || w.Addr != eps(3)[1] {
		t.Fatalf("withheld %+v, want ns/a %s", w, eps(3)[1])
	}
	if u := <-old; len(u.GetRemove().GetAddrs()) != 1 || !proto.Equal(u.GetRemove().GetAddrs()[0], tcpAddr(eps(3)[2])) {
		t.Fatalf("first remove %v, want only %s", u, eps(3)[2])
	}
	// A later slice update does not remove it either.
	s.SetEndpoints("ns/a", 80, eps(1))
	fresh := recv()
	if u := <-fresh; len(u.GetAdd().GetAddrs()) != 2 {
		t.Fatalf("new stream's snapshot %v, want the ready endpoint and the withheld one", u)
	}
	for _, ch := range []<-chan *pb.Update{old, fresh} {
		u := <-ch
		if len(u.GetRemove().GetAddrs()) != 1 || !proto.Equal(u.GetRemove().GetAddrs()[0], tcpAddr(w.Addr)) || time.Since(start) < hold {
			t.Fatalf("after %s: %v, want the withheld remove after %s", time.Since(start), u, hold)
		}
	}
	if got := s.Endpoints("ns/a", 80); len(got) != 1 {
		t.Errorf("endpoints after the hold %v", got)
	}

	// Kept for good until released.
	withheld = s.WithholdRemove(0)
	s.SetEndpoints("ns/a", 80, nil)
	<-withheld
	if got := s.Endpoints("ns/a", 80); len(got) != 1 {
		t.Fatalf("endpoints while withheld %v, want the kept one", got)
	}
	s.ReleaseWithheld()
	if got := s.Endpoints("ns/a", 80); len(got) != 0 {
		t.Errorf("endpoints after ReleaseWithheld %v, want none", got)
	}
}
