package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	pb "github.com/linkerd/linkerd2-proxy-api/go/destination"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/dstload/dstload/workload/record"
)

// Flow-control windows of the clients' connections. With gRPC's default
// (a 64 KiB window grown by BDP estimation) each connection answers the
// updates it reads with window updates and BDP pings, one write each:
// that was 8% of the clients' CPU profile at full size, for nothing a
// stream needs, since a stream reads each update as it comes. Fixed large
// windows turn BDP estimation off and make window updates rare. The
// controller's sends never wait on a window either way.
const (
	streamWindow = 16 << 20
	connWindow   = 64 << 20
)

// errLifetime is the cause of a stream context ended by its bounded lifetime.
var errLifetime = errors.New("stream lifetime reached")

// Client holds the streams of one process.
type Client struct {
	o       Options
	log     *slog.Logger
	m       *metrics
	reqs    []*pb.GetDestination // per service, shared by its streams
	keys    []string             // per service, "namespace/name"
	bySvc   [][]*stream
	byKey   map[string]int
	streams []*stream

	opened     atomic.Int64
	held       atomic.Int64 // endpoints held over all streams (dstload_client_endpoints)
	updates    atomic.Uint64
	reconnects atomic.Uint64

	recMu    sync.Mutex
	receipts []receipt
	convs    []conv
	ends     []end
}

// stream is one logical stream; kept small because there are thousands.
type stream struct {
	mu      sync.Mutex
	id      uint32
	svc     uint16
	sampled bool
	// watched: the stream missed an event, and records receipts from then
	// on so that a diagnosis can say when it recovered.
	watched    bool
	reconnects uint32
	openedAt   int64 // Unix ns of the first Get; 0 before
	closedAt   int64
	// eps4 holds IPv4 endpoints packed as ip<<16|port; eps6 the rest.
	eps4 map[uint64]struct{}
	eps6 map[netip.AddrPort]struct{}
	// lastChange and firstSinceMark (first change since the last event was
	// attached) let an event learned slightly after its write still get
	// its first change and convergence.
	lastChange     int64
	firstSinceMark int64
	pend           pendingEvent
}

type pendingEvent struct {
	seq     uint64
	written int64
	first   int64
	target  int32
	active  bool
}

// receipt holds no pointer (the address is packed, see packedAddr): a
// full-size run keeps close to a million of them, and a slice of
// pointer-free values is one the garbage collector never scans.
type receipt struct {
	t        int64
	addr     packedAddr
	stream   uint32
	add      bool
	snapshot bool
}

// packedAddr is a netip.AddrPort without its zone pointer. The
// destination API carries no zones, so nothing is lost.
type packedAddr struct {
	ip   [16]byte
	port uint16
	is4  bool
}

func pack(ap netip.AddrPort) packedAddr {
	return packedAddr{ip: ap.Addr().As16(), port: ap.Port(), is4: ap.Addr().Is4()}
}

func (p packedAddr) addrPort() netip.AddrPort {
	a := netip.AddrFrom16(p.ip)
	if p.is4 {
		a = a.Unmap()
	}
	return netip.AddrPortFrom(a, p.port)
}

type conv struct {
	seq       uint64
	first     int64
	converged int64
	deadline  int64            // missed only
	held      []netip.AddrPort // missed only: the set at deadline
	stream    uint32
	target    int32
	missed    bool
}

type end struct {
	t      int64
	stream uint32
	cause  string
	msg    string
}

// New validates o and prepares the streams; Run opens them.
func New(o Options, log *slog.Logger, reg prometheus.Registerer) (*Client, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	c := &Client{o: o, log: log, byKey: map[string]int{}}
	c.m = newMetrics(reg, func() float64 { return float64(c.held.Load()) })
	total := len(o.Services) * o.StreamsPerService
	stride := 0 // sample every stride-th stream; 0 = none
	switch {
	case o.SampleStreams < 0 || o.SampleStreams >= total:
		stride = 1
	case o.SampleStreams > 0:
		stride = (total + o.SampleStreams - 1) / o.SampleStreams
	}
	token := o.Token.String()
	c.streams = make([]*stream, 0, total)
	for i, s := range o.Services {
		c.reqs = append(c.reqs, &pb.GetDestination{
			Scheme:       "k8s",
			Path:         fmt.Sprintf("%s%s.%s.svc.%s:%d", s.Name, o.QuerySuffix, s.Namespace, o.ClusterDomain, s.Port),
			ContextToken: token,
		})
		c.keys = append(c.keys, s.Key())
		c.byKey[s.Key()] = i
		var list []*stream
		for range o.StreamsPerService {
			id := uint32(len(c.streams))
			st := &stream{id: id, svc: uint16(i), sampled: stride > 0 && int(id)%stride == 0}
			c.streams = append(c.streams, st)
			list = append(list, st)
		}
		c.bySvc = append(c.bySvc, list)
	}
	return c, nil
}

// Ready is nil once every stream has made its first Get call.
func (c *Client) Ready() error {
	if n, total := c.opened.Load(), int64(len(c.streams)); n < total {
		return fmt.Errorf("%d of %d streams opened", n, total)
	}
	return nil
}

// EndpointsHeld is the number of endpoints held, summed over all streams
// (what the dstload_client_endpoints gauge shows).
func (c *Client) EndpointsHeld() int { return int(c.held.Load()) }

// Stats is a snapshot of the client's counters.
type Stats struct {
	Streams    int
	Opened     int
	Updates    uint64
	Reconnects uint64
	// Ends counts stream ends by cause (record.CauseEndOK, a gRPC code ...).
	Ends map[string]int
}

// Stats returns the current counters.
func (c *Client) Stats() Stats {
	s := Stats{Streams: len(c.streams), Opened: int(c.opened.Load()), Updates: c.updates.Load(), Reconnects: c.reconnects.Load(), Ends: map[string]int{}}
	c.recMu.Lock()
	for _, e := range c.ends {
		s.Ends[e.cause]++
	}
	c.recMu.Unlock()
	return s
}

// Run opens every stream and keeps them open until ctx ends. Streams that
// still wait for an event's target then are recorded as missed.
func (c *Client) Run(ctx context.Context) error {
	conns := make([]pb.DestinationClient, c.o.Connections)
	for i := range conns {
		opts := append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithInitialWindowSize(streamWindow), grpc.WithInitialConnWindowSize(connWindow)}, c.o.DialOptions...)
		cc, err := grpc.NewClient(c.o.Addr, opts...)
		if err != nil {
			return fmt.Errorf("connect to destination %s: %w", c.o.Addr, err)
		}
		defer cc.Close()
		conns[i] = pb.NewDestinationClient(cc)
	}
	var wg sync.WaitGroup
	for i, st := range c.streams {
		dst := conns[i%len(conns)]
		wg.Go(func() { c.runStream(ctx, dst, st) })
	}
	wg.Wait()
	now := time.Now().UnixNano()
	for _, st := range c.streams {
		st.mu.Lock()
		st.closedAt = now
		if st.pend.active {
			c.missLocked(st)
		}
		st.mu.Unlock()
	}
	return nil
}

func (c *Client) runStream(ctx context.Context, dst pb.DestinationClient, st *stream) {
	newBackoff := func() wait.Backoff {
		return wait.Backoff{Duration: c.o.BackoffMin, Factor: 2, Cap: c.o.BackoffMax, Steps: math.MaxInt32}
	}
	backoff := newBackoff()
	req := c.reqs[st.svc]
	u := update{keepRaw: c.o.OnReceive != nil} // reused for every message of this stream
	cdc := grpc.ForceCodecV2(newCodec())
	for ctx.Err() == nil {
		sctx, cancelCause := context.WithCancelCause(ctx)
		cancel := func() { cancelCause(nil) }
		if c.o.Lifetime > 0 {
			life := c.o.Lifetime
			if c.o.LifetimeJitter > 0 {
				life += rand.N(c.o.LifetimeJitter)
			}
			// A timer rather than a deadline: a deadline would travel as
			// grpc-timeout and the server could end the stream first with
			// DeadlineExceeded, which proxies never see.
			t := time.AfterFunc(life, func() { cancelCause(errLifetime) })
			cancel = func() { t.Stop(); cancelCause(nil) }
		}
		st.mu.Lock()
		if st.openedAt == 0 {
			st.openedAt = time.Now().UnixNano()
			c.opened.Add(1)
		} else {
			st.reconnects++
			c.reconnects.Add(1)
			c.m.reconnects.Inc()
		}
		st.mu.Unlock()

		got := false
		gs, err := dst.Get(sctx, req, cdc)
		if err == nil {
			c.m.streams.Inc()
			got, err = c.recv(st, gs, &u)
			c.m.streams.Dec()
		}
		lifetime := errors.Is(context.Cause(sctx), errLifetime)
		cancel()
		if ctx.Err() != nil {
			// The client's own stop: the set stays as it was, so that an
			// event still pending is recorded missed with what it held.
			return
		}
		c.reset(st)
		cause, msg := c.classify(err, lifetime)
		c.recMu.Lock()
		c.ends = append(c.ends, end{t: time.Now().UnixNano(), stream: st.id, cause: cause, msg: msg})
		c.recMu.Unlock()
		if cause == record.CauseLifetime {
			backoff = newBackoff()
			continue
		}
		if got {
			backoff = newBackoff()
		}
		// Equal jitter: half the step plus a random half. wait.Backoff's
		// own jitter only adds, and would let waits pass the cap.
		d := backoff.Step()
		d = d/2 + rand.N(d/2+1)
		c.log.Debug("stream ended", "stream", st.id, "service", c.keys[st.svc], "cause", cause, "msg", msg, "retry", d)
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return
		}
	}
}

func (c *Client) classify(err error, lifetime bool) (cause, msg string) {
	switch {
	case lifetime:
		c.m.endsLifetime.Inc()
		return record.CauseLifetime, ""
	case err == nil || errors.Is(err, io.EOF):
		c.m.endsEndOK.Inc()
		return record.CauseEndOK, ""
	}
	s := status.Convert(err)
	code := s.Code().String()
	c.m.ends.WithLabelValues(code).Inc()
	c.m.errors.WithLabelValues(code).Inc()
	return code, s.Message()
}

// recv reads updates until the stream ends; io.EOF means status OK.
func (c *Client) recv(st *stream, gs grpc.ServerStreamingClient[pb.Update], u *update) (bool, error) {
	got := false
	for {
		if err := gs.RecvMsg(u); err != nil {
			return got, err
		}
		now := time.Now().UnixNano()
		c.apply(st, u, now, !got)
		got = true
		if c.o.OnReceive != nil {
			c.o.OnReceive(st.id, u.raw, time.Unix(0, now))
		}
		// An idle stream must not keep a large update's buffer alive.
		if cap(u.addrs) > 1024 {
			u.addrs = nil
		}
	}
}
