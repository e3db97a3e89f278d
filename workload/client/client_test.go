package client

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/dstload/dstload/internal/dsttest"
	"github.com/dstload/dstload/internal/testutil"
	"github.com/dstload/dstload/workload/record"
)

// serve runs srv on a loopback port until the test ends; stop ends it early.
func serve(t *testing.T, srv *dsttest.Server, addr string) (string, func()) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	srv.Register(g)
	go func() { _ = g.Serve(ln) }()
	t.Cleanup(g.Stop)
	return ln.Addr().String(), g.Stop
}

func endpoints(n int, third byte) []netip.AddrPort {
	out := make([]netip.AddrPort, n)
	for i := range out {
		out[i] = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, third, byte(i + 1)}), 8080)
	}
	return out
}

// startClient runs a client until the test ends; stop ends it early and
// returns Run's error.
func startClient(t *testing.T, o Options) (*Client, func() error) {
	t.Helper()
	if o.Name == "" {
		o.Name = "test"
	}
	if o.BackoffMin == 0 {
		o.BackoffMin, o.BackoffMax = 10*time.Millisecond, 50*time.Millisecond
	}
	c, err := New(o, testutil.Discard(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var runErr error
	go func() { runErr = c.Run(ctx); close(done) }()
	stop := func() error { cancel(); <-done; return runErr }
	t.Cleanup(func() { _ = stop() })
	return c, stop
}

func TestClientConvergesOnEveryEvent(t *testing.T) {
	srv := dsttest.NewServer(dsttest.Options{})
	srv.SetEndpoints("ns/a", 80, endpoints(3, 1))
	srv.SetEndpoints("ns/b", 80, endpoints(2, 2))
	addr, _ := serve(t, srv, "127.0.0.1:0")
	c, stop := startClient(t, Options{Addr: addr, StreamsPerService: 4, Connections: 2, SampleStreams: -1,
		Services: []Service{{"ns", "a", 80}, {"ns", "b", 80}}, Token: ContextToken{NS: "ns", NodeName: "n", Pod: "p"}})
	testutil.WaitFor(t, 10*time.Second, "snapshots", func() bool { return c.Stats().Updates == 8 })

	targets := []int{5, 1, 4, 0, 3}
	for seq, n := range targets {
		ev := record.ScaleEvent{Service: "ns/a", Seq: uint64(seq + 1), Target: n, Time: time.Now()}
		c.OnEvent(ev)
		srv.SetEndpoints("ns/a", 80, endpoints(n, 1))
		testutil.WaitFor(t, 10*time.Second, fmt.Sprintf("event %d", seq+1), func() bool {
			return len(c.Records().StreamConvergence) == 4*(seq+1)
		})
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	recs := c.Records()
	for _, sc := range recs.StreamConvergence {
		if sc.Missed || sc.Converged.IsZero() || sc.FirstChange.IsZero() || sc.FirstChange.After(sc.Converged) {
			t.Errorf("stream %d event %d: %+v", sc.Stream, sc.Seq, sc)
		}
	}
	if len(recs.Streams) != 8 || recs.Sampling[0].Sampled != 8 {
		t.Errorf("streams %d sampled %+v, want 8 all sampled", len(recs.Streams), recs.Sampling)
	}
	// Receipts: 4 streams of a saw 3 snapshot adds, then +2, -4, +3, -4, +3
	// addresses; b's streams saw 2 snapshot adds each.
	var snap, changes int
	for _, r := range recs.Receipts {
		if r.Snapshot {
			snap++
		} else {
			changes++
		}
	}
	if snap != 4*3+4*2 || changes != 4*(2+4+3+4+3) {
		t.Errorf("receipts: %d snapshot, %d changes; want 20 and 64", snap, changes)
	}
}

func TestClientCountsServerBehaviour(t *testing.T) {
	tests := []struct {
		name  string
		svc   Service
		act   func(srv *dsttest.Server)
		cause string
	}{
		{name: "unknown service is NotFound", svc: Service{"ns", "missing", 80}, cause: "NotFound"},
		{name: "overflow ends with OK", svc: Service{"ns", "a", 80}, cause: record.CauseEndOK,
			act: func(srv *dsttest.Server) { srv.EndStreams(nil) }},
		{name: "reset is Unavailable", svc: Service{"ns", "a", 80}, cause: "Unavailable",
			act: func(srv *dsttest.Server) { srv.EndStreams(status.Error(codes.Unavailable, "reset")) }},
		{name: "bad authority is InvalidArgument", svc: Service{"ns.x", "a", 80}, cause: "InvalidArgument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := dsttest.NewServer(dsttest.Options{})
			srv.SetEndpoints("ns/a", 80, endpoints(2, 1))
			addr, _ := serve(t, srv, "127.0.0.1:0")
			c, _ := startClient(t, Options{Addr: addr, StreamsPerService: 3, Services: []Service{tt.svc}})
			if tt.act != nil {
				testutil.WaitFor(t, 10*time.Second, "snapshots", func() bool { return c.Stats().Updates == 3 })
				tt.act(srv)
			}
			testutil.WaitFor(t, 10*time.Second, tt.cause, func() bool { return c.Stats().Ends[tt.cause] >= 3 })
			testutil.WaitFor(t, 10*time.Second, "reconnects", func() bool { return c.Stats().Reconnects >= 3 })
		})
	}
}

func TestClientSurvivesServerRestart(t *testing.T) {
	srv := dsttest.NewServer(dsttest.Options{})
	srv.SetEndpoints("ns/a", 80, endpoints(2, 1))
	addr, stop := serve(t, srv, "127.0.0.1:0")
	c, _ := startClient(t, Options{Addr: addr, StreamsPerService: 5, Services: []Service{{"ns", "a", 80}}})
	testutil.WaitFor(t, 10*time.Second, "snapshots", func() bool { return c.Stats().Updates == 5 })
	stop()
	testutil.WaitFor(t, 10*time.Second, "ends", func() bool { return c.Stats().Ends["Unavailable"] >= 5 })
	serve(t, srv, addr)
	testutil.WaitFor(t, 10*time.Second, "snapshots after restart", func() bool { return c.Stats().Updates >= 10 })
	if open, _, _, _ := srv.Counters(); open != 5 {
		t.Errorf("server sees %d open streams after restart, want 5", open)
	}
	if r := c.Stats().Reconnects; r < 5 {
		t.Errorf("reconnects = %d, want >= 5", r)
	}
}

func TestClientLifetimeRenewsStreams(t *testing.T) {
	srv := dsttest.NewServer(dsttest.Options{})
	srv.SetEndpoints("ns/a", 80, endpoints(1, 1))
	addr, _ := serve(t, srv, "127.0.0.1:0")
	c, _ := startClient(t, Options{Addr: addr, StreamsPerService: 2, Services: []Service{{"ns", "a", 80}},
		Lifetime: 50 * time.Millisecond, LifetimeJitter: 20 * time.Millisecond})
	testutil.WaitFor(t, 10*time.Second, "renewals", func() bool { return c.Stats().Ends[record.CauseLifetime] >= 6 })
	if n := c.Stats().Ends["DeadlineExceeded"]; n != 0 {
		t.Errorf("%d lifetime ends counted as errors", n)
	}
}

func TestOptionsValidate(t *testing.T) {
	ok := Options{Name: "c", Addr: "127.0.0.1:1", StreamsPerService: 1, Services: []Service{{"ns", "a", 80}}}
	tests := []struct {
		name string
		mod  func(o *Options)
		want string
	}{
		{"valid", func(o *Options) {}, ""},
		{"zero streams", func(o *Options) { o.StreamsPerService = 0 }, "at least 1"},
		{"no services", func(o *Options) { o.Services = nil }, "no services"},
		{"negative lifetime", func(o *Options) { o.Lifetime = -time.Second }, "negative"},
		{"jitter without lifetime", func(o *Options) { o.LifetimeJitter = time.Second }, "needs a stream lifetime"},
		{"backoff min > max", func(o *Options) { o.BackoffMin, o.BackoffMax = 2*time.Second, time.Second }, "min <= max"},
		{"duplicate service", func(o *Options) { o.Services = append(o.Services, Service{"ns", "a", 81}) }, "twice"},
		{"bad port", func(o *Options) { o.Services[0].Port = 70000 }, "invalid service"},
		{"too many services", func(o *Options) {
			o.Services = make([]Service, 1<<16+1)
			for i := range o.Services {
				o.Services[i] = Service{"ns", fmt.Sprint("s", i), 80}
			}
		}, "more than one client can hold"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := ok
			o.Services = append([]Service(nil), ok.Services...)
			tt.mod(&o)
			err := o.Validate()
			if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
}
