package dsttest

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	pb "github.com/linkerd/linkerd2-proxy-api/go/destination"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

func TestParsePath(t *testing.T) {
	s := NewServer(Options{})
	tests := []struct {
		path string
		key  string
		port uint32
		code codes.Code
	}{
		{"web.ns.svc.cluster.local:8080", "ns/web", 8080, codes.OK},
		{"web.ns.svc.cluster.local", "ns/web", 80, codes.OK},
		{"web.ns.svc.example.org:80", "", 0, codes.InvalidArgument},
		{"10.0.0.1:80", "", 0, codes.InvalidArgument},
		{"pod.web.ns.svc.cluster.local:80", "", 0, codes.InvalidArgument},
		{"web.ns.svc.cluster.local:http", "", 0, codes.InvalidArgument},
	}
	for _, tt := range tests {
		key, port, err := s.parsePath(tt.path)
		if status.Code(err) != tt.code || key != tt.key || port != tt.port {
			t.Errorf("parsePath(%q) = %q %d %v, want %q %d %v", tt.path, key, port, err, tt.key, tt.port, tt.code)
		}
	}
}

func dial(t *testing.T, s *Server) pb.DestinationClient {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	s.Register(g)
	go func() { _ = g.Serve(ln) }()
	t.Cleanup(g.Stop)
	cc, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return pb.NewDestinationClient(cc)
}

func eps(n int) []netip.AddrPort {
	out := make([]netip.AddrPort, n)
	for i := range out {
		out[i] = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)}), 8080)
	}
	return out
}

// TestBehaviour: the Linkerd behaviours the client relies on.
func TestBehaviour(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	get := func(c pb.DestinationClient, path string) grpc.ServerStreamingClient[pb.Update] {
		st, err := c.Get(ctx, &pb.GetDestination{Scheme: "k8s", Path: path})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}

	t.Run("unknown service is NotFound on first Recv", func(t *testing.T) {
		s := NewServer(Options{})
		_, err := get(dial(t, s), "nope.ns.svc.cluster.local:80").Recv()
		if status.Code(err) != codes.NotFound || status.Convert(err).Message() != "Service nope.ns not found" {
			t.Errorf("Recv = %v, want NotFound", err)
		}
	})

	t.Run("zero endpoints send nothing until one appears; removing the last sends a remove", func(t *testing.T) {
		s := NewServer(Options{})
		s.SetEndpoints("ns/a", 80, nil)
		st := get(dial(t, s), "a.ns.svc.cluster.local:80")
		got := make(chan *pb.Update, 4)
		go func() {
			for {
				u, err := st.Recv()
				if err != nil {
					close(got)
					return
				}
				got <- u
			}
		}()
		select {
		case u := <-got:
			t.Fatalf("got %v for a service without endpoints", u)
		case <-time.After(100 * time.Millisecond):
		}
		s.SetEndpoints("ns/a", 80, eps(1))
		if u := <-got; len(u.GetAdd().GetAddrs()) != 1 {
			t.Errorf("got %v, want an add of one address", u)
		}
		s.SetEndpoints("ns/a", 80, nil)
		if u := <-got; len(u.GetRemove().GetAddrs()) != 1 {
			t.Errorf("got %v, want a remove of one address", u)
		}
	})

	t.Run("a full queue ends the stream with status OK", func(t *testing.T) {
		s := NewServer(Options{QueueCapacity: 2, Delay: time.Second})
		s.SetEndpoints("ns/a", 80, eps(1))
		st := get(dial(t, s), "a.ns.svc.cluster.local:80")
		if _, err := st.Recv(); err != nil {
			t.Fatal(err)
		}
		for i := 2; i <= 5; i++ {
			s.SetEndpoints("ns/a", 80, eps(i))
		}
		_, err := st.Recv()
		if !errors.Is(err, io.EOF) {
			t.Errorf("Recv = %v, want io.EOF (status OK)", err)
		}
		if _, _, _, overflow := s.Counters(); overflow == 0 {
			t.Error("overflow not counted")
		}
	})

	t.Run("delay holds each update back", func(t *testing.T) {
		const d = 150 * time.Millisecond
		s := NewServer(Options{Delay: d, Stamp: true})
		s.SetEndpoints("ns/a", 80, eps(1))
		st := get(dial(t, s), "a.ns.svc.cluster.local:80")
		if _, err := st.Recv(); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		s.SetEndpoints("ns/a", 80, eps(2))
		u, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		// The upper bound only catches an update held far longer than the
		// delay: 50 ms of slack was less than a busy 2-core CI machine
		// takes to schedule the stream's goroutines.
		if el := time.Since(start); el < d || el > d+time.Second {
			t.Errorf("update after %s, want %s", el, d)
		}
		if u.GetAdd().GetMetricLabels()[StampLabel] == "" {
			t.Errorf("add %v has no send stamp", u)
		}
	})
}
