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

type receipt struct {
	t        int64
	addr     netip.AddrPort
	stream   uint32
	add      bool
	snapshot bool
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
			Path:         fmt.Sprintf("%s.%s.svc.%s:%d", s.Name, s.Namespace, o.ClusterDomain, s.Port),
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
		opts := append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, c.o.DialOptions...)
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

// apply folds one update into the stream's endpoint set and records it.
func (c *Client) apply(st *stream, u *update, now int64, snapshot bool) {
	c.updates.Add(1)
	st.mu.Lock()
	defer st.mu.Unlock()
	before := len(st.eps4) + len(st.eps6)
	rec := st.sampled || st.watched
	if rec {
		c.recMu.Lock()
		defer c.recMu.Unlock()
	}
	switch u.kind {
	case kindAdd:
		c.m.adds.Inc()
		for _, ap := range u.addrs {
			insert(st, ap)
			if rec {
				c.receipts = append(c.receipts, receipt{t: now, addr: ap, stream: st.id, add: true, snapshot: snapshot})
			}
		}
	case kindRemove:
		c.m.removes.Inc()
		for _, ap := range u.addrs {
			remove(st, ap)
			if rec {
				c.receipts = append(c.receipts, receipt{t: now, addr: ap, stream: st.id, snapshot: snapshot})
			}
		}
	case kindNoEndpoints:
		// Linkerd's Go server never sends it; a server that does means
		// "no endpoints", so the set empties.
		c.m.noEndpoints.Inc()
		clear(st.eps4)
		clear(st.eps6)
	default:
		return
	}
	size := len(st.eps4) + len(st.eps6)
	if size != before {
		c.held.Add(int64(size - before))
	}
	st.lastChange = now
	if st.firstSinceMark == 0 {
		st.firstSinceMark = now
	}
	p := &st.pend
	if !p.active {
		return
	}
	if p.first == 0 {
		p.first = now
	}
	if size == int(p.target) {
		c.convergeLocked(st, now, !rec)
	}
}

// convergeLocked records the pending event as converged at t. lockRec says
// whether recMu must be taken (apply already holds it for sampled streams).
func (c *Client) convergeLocked(st *stream, t int64, lockRec bool) {
	p := &st.pend
	if lockRec {
		c.recMu.Lock()
	}
	c.convs = append(c.convs, conv{seq: p.seq, first: p.first, converged: t, stream: st.id, target: p.target})
	if lockRec {
		c.recMu.Unlock()
	}
	c.m.e2e.Observe(float64(t-p.written) / 1e9)
	if p.first != 0 {
		c.m.firstUpdate.Observe(float64(p.first-p.written) / 1e9)
	}
	p.active = false
}

// missLocked records the pending event as missed, with the set the stream
// holds now, and makes the stream record its receipts from now on.
func (c *Client) missLocked(st *stream) {
	p := &st.pend
	held := make([]netip.AddrPort, 0, len(st.eps4)+len(st.eps6))
	for k := range st.eps4 {
		held = append(held, unkey4(k))
	}
	for ap := range st.eps6 {
		held = append(held, ap)
	}
	st.watched = true
	c.recMu.Lock()
	c.convs = append(c.convs, conv{seq: p.seq, first: p.first, stream: st.id, target: p.target, missed: true,
		deadline: time.Now().UnixNano(), held: held})
	c.recMu.Unlock()
	c.m.missed.Inc()
	p.active = false
}

// reset empties a stream's set when its Get call ended: the next call
// starts from the server's snapshot, as a proxy's would.
func (c *Client) reset(st *stream) {
	st.mu.Lock()
	if n := len(st.eps4) + len(st.eps6); n > 0 {
		c.held.Add(-int64(n))
		clear(st.eps4)
		clear(st.eps6)
	}
	st.mu.Unlock()
}

// insert adds ap to the stream's set; IPv4 endpoints (nearly all) are
// packed into a uint64 key, which halves the set's memory.
func insert(st *stream, ap netip.AddrPort) {
	if a := ap.Addr(); a.Is4() {
		if st.eps4 == nil {
			st.eps4 = make(map[uint64]struct{})
		}
		st.eps4[key4(ap)] = struct{}{}
		return
	}
	if st.eps6 == nil {
		st.eps6 = make(map[netip.AddrPort]struct{})
	}
	st.eps6[ap] = struct{}{}
}

func remove(st *stream, ap netip.AddrPort) {
	if ap.Addr().Is4() {
		delete(st.eps4, key4(ap))
		return
	}
	delete(st.eps6, ap)
}

func key4(ap netip.AddrPort) uint64 {
	b := ap.Addr().As4()
	return uint64(b[0])<<40 | uint64(b[1])<<32 | uint64(b[2])<<24 | uint64(b[3])<<16 | uint64(ap.Port())
}

func unkey4(k uint64) netip.AddrPort {
	a := netip.AddrFrom4([4]byte{byte(k >> 40), byte(k >> 32), byte(k >> 24), byte(k >> 16)})
	return netip.AddrPortFrom(a, uint16(k))
}

// OnEvent attaches a scale event (from churn's feed) to every stream of its
// service. An earlier event still unconverged is recorded as missed.
func (c *Client) OnEvent(e record.ScaleEvent) {
	i, ok := c.byKey[e.Service]
	if !ok {
		return
	}
	c.m.events.Inc()
	written := e.Time.UnixNano()
	for _, st := range c.bySvc[i] {
		st.mu.Lock()
		if st.pend.active {
			c.missLocked(st)
		}
		p := pendingEvent{seq: e.Seq, written: written, target: int32(e.Target), active: true}
		switch {
		case st.firstSinceMark >= written:
			p.first = st.firstSinceMark
		case st.lastChange >= written:
			p.first = st.lastChange
		}
		st.firstSinceMark = 0
		st.pend = p
		if len(st.eps4)+len(st.eps6) == e.Target {
			c.convergeLocked(st, max(st.lastChange, written), true)
		}
		st.mu.Unlock()
	}
}

// MissedSince returns the missed events recorded after the first from
// (a cursor, 0 at first) with the sets their streams held, and the next
// cursor: the progress lines' stale and missing endpoints.
func (c *Client) MissedSince(from int) ([]record.StreamConvergence, int) {
	c.recMu.Lock()
	defer c.recMu.Unlock()
	var out []record.StreamConvergence
	for _, v := range c.convs[min(from, len(c.convs)):] {
		if !v.missed {
			continue
		}
		sc := record.StreamConvergence{Client: c.o.Name, Stream: v.stream, Service: c.keys[c.streams[v.stream].svc],
			Seq: v.seq, Target: int(v.target), Missed: true, Deadline: unixTime(v.deadline)}
		for _, ap := range v.held {
			sc.Held = append(sc.Held, ap.String())
		}
		out = append(out, sc)
	}
	return out, len(c.convs)
}

// Lagging returns, for each stream still waiting for an event written
// before the given time, the set it holds now (as a missed record would
// carry it, Deadline = now), so that progress can name what it lacks or
// keeps before the event's deadline comes.
func (c *Client) Lagging(writtenBefore time.Time) []record.StreamConvergence {
	var out []record.StreamConvergence
	now := time.Now()
	for _, st := range c.streams {
		st.mu.Lock()
		if p := st.pend; p.active && p.written < writtenBefore.UnixNano() {
			sc := record.StreamConvergence{Client: c.o.Name, Stream: st.id, Service: c.keys[st.svc], Seq: p.seq,
				Target: int(p.target), Missed: true, Deadline: now}
			for k := range st.eps4 {
				sc.Held = append(sc.Held, unkey4(k).String())
			}
			for ap := range st.eps6 {
				sc.Held = append(sc.Held, ap.String())
			}
			out = append(out, sc)
		}
		st.mu.Unlock()
	}
	return out
}

// Records returns a snapshot of the client's records.
func (c *Client) Records() record.Set {
	var s record.Set
	name := c.o.Name
	sampled := 0
	for _, st := range c.streams {
		st.mu.Lock()
		info := record.StreamInfo{Client: name, Stream: st.id, Service: c.keys[st.svc], Sampled: st.sampled,
			Opened: unixTime(st.openedAt), Closed: unixTime(st.closedAt), Reconnects: int(st.reconnects)}
		st.mu.Unlock()
		if info.Sampled {
			sampled++
		}
		s.Streams = append(s.Streams, info)
	}
	s.Sampling = []record.Sampling{{Client: name, Streams: len(c.streams), Sampled: sampled, Node: c.o.Token.NodeName}}
	c.recMu.Lock()
	defer c.recMu.Unlock()
	s.Receipts = make([]record.Receipt, len(c.receipts))
	for i, r := range c.receipts {
		s.Receipts[i] = record.Receipt{Client: name, Stream: r.stream, Service: c.keys[c.streams[r.stream].svc],
			Addr: r.addr.String(), Add: r.add, Time: time.Unix(0, r.t), Snapshot: r.snapshot}
	}
	s.StreamConvergence = make([]record.StreamConvergence, len(c.convs))
	for i, v := range c.convs {
		s.StreamConvergence[i] = record.StreamConvergence{Client: name, Stream: v.stream, Service: c.keys[c.streams[v.stream].svc],
			Seq: v.seq, Target: int(v.target), FirstChange: unixTime(v.first), Converged: unixTime(v.converged), Missed: v.missed,
			Deadline: unixTime(v.deadline)}
		for _, ap := range v.held {
			s.StreamConvergence[i].Held = append(s.StreamConvergence[i].Held, ap.String())
		}
	}
	s.StreamEnds = make([]record.StreamEnd, len(c.ends))
	for i, e := range c.ends {
		s.StreamEnds[i] = record.StreamEnd{Client: name, Stream: e.stream, Service: c.keys[c.streams[e.stream].svc],
			Time: time.Unix(0, e.t), Cause: e.cause, Message: e.msg}
	}
	return s
}

func unixTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}
