// Package dsttest is test support: a small Destination server that serves
// endpoints over Linkerd's real Destination gRPC API, with the behaviour of
// Linkerd's destination controller that dstload's client depends on (an
// unknown Service ends the stream with NotFound, a full update queue ends it
// with status OK, a service without endpoints sends nothing) and knobs to
// misbehave on purpose.
//
// It is only for what Linkerd's real controller cannot do on demand:
// injected delays, stream resets, queue overflow, NotFound, and a server
// that stamps its sends (to measure the instrument itself). Wherever a test
// judges the destination controller it runs the real one
// (localtest.RealDestination, DSTLOAD_DESTINATION_BIN).
//
// Endpoints come from a cluster's EndpointSlices (Watch, client-go
// informers) or are set directly (SetEndpoints, for benchmarks). It is not
// part of the product; only tests and test programs import it.
package dsttest

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	pb "github.com/linkerd/linkerd2-proxy-api/go/destination"
	netpb "github.com/linkerd/linkerd2-proxy-api/go/net"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// StampLabel is the metric label that carries an Add's send time (Unix
// nanoseconds) when stamping is on.
const StampLabel = "dsttest_sent_unix_nano"

// Options configure a Server.
type Options struct {
	// ClusterDomain is the suffix paths must end in (default cluster.local).
	ClusterDomain string
	// QueueCapacity bounds each stream's pending updates; beyond it the
	// stream ends with status OK, as Linkerd's does (default 100).
	QueueCapacity int
	// Delay holds back every update this long after the server learned it.
	Delay time.Duration
	// Stamp puts the send time into each Add's metric labels (StampLabel).
	Stamp bool
}

// Server implements the Destination service.
type Server struct {
	pb.UnimplementedDestinationServer

	domain   string
	queueCap int
	delay    atomic.Int64
	stamp    bool

	mu   sync.Mutex
	svcs map[string]*service // "ns/name"
	// withhold, when set, takes the next Remove (WithholdRemove).
	withhold *withholdReq

	streams  atomic.Int64
	opened   atomic.Int64
	notFound atomic.Int64
	overflow atomic.Int64
}

type service struct {
	key    string
	exists bool
	// kept are endpoints whose Remove is withheld: served as if ready.
	kept map[uint32]map[netip.AddrPort]struct{}
	// eps holds the ready endpoints per service port.
	eps  map[uint32]map[netip.AddrPort]struct{}
	subs map[*sub]struct{}
}

type sub struct {
	port uint32
	q    chan pending
	// end, once closed, ends the stream with endErr (nil = status OK).
	end     chan struct{}
	endOnce sync.Once
	endErr  error
}

type pending struct {
	u  *pb.Update
	at time.Time
}

func (s *sub) finish(err error) {
	s.endOnce.Do(func() {
		s.endErr = err
		close(s.end)
	})
}

// NewServer returns a server with no services.
func NewServer(o Options) *Server {
	if o.ClusterDomain == "" {
		o.ClusterDomain = "cluster.local"
	}
	if o.QueueCapacity <= 0 {
		o.QueueCapacity = 100
	}
	s := &Server{domain: o.ClusterDomain, queueCap: o.QueueCapacity, stamp: o.Stamp, svcs: map[string]*service{}}
	s.delay.Store(int64(o.Delay))
	return s
}

// Register adds the server to a gRPC server.
func (s *Server) Register(g *grpc.Server) { pb.RegisterDestinationServer(g, s) }

// SetDelay changes the delay applied to updates learned from now on.
func (s *Server) SetDelay(d time.Duration) { s.delay.Store(int64(d)) }

// Counters reports open streams, streams ever opened, NotFound answers and
// overflowed streams.
func (s *Server) Counters() (open, opened, notFound, overflow int64) {
	return s.streams.Load(), s.opened.Load(), s.notFound.Load(), s.overflow.Load()
}

// SetService creates (exists) or deletes a service. Deleting it removes its
// endpoints from every stream.
func (s *Server) SetService(key string, exists bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sv := s.svc(key)
	sv.exists = exists
	if !exists {
		for port := range sv.eps {
			s.setLocked(sv, port, nil)
		}
	}
}

// SetEndpoints replaces the ready endpoints of one service port, sending
// the difference to its streams. The service is created if needed.
func (s *Server) SetEndpoints(key string, port uint32, eps []netip.AddrPort) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sv := s.svc(key)
	sv.exists = true
	s.setLocked(sv, port, eps)
}

// EndStreams ends every open stream with err (nil: status OK, what an
// overflowing Linkerd stream looks like; a status error such as
// status.Error(codes.Unavailable, ...) for a reset).
func (s *Server) EndStreams(err error) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, sv := range s.svcs {
		for sb := range sv.subs {
			sb.finish(err)
			n++
		}
	}
	return n
}

func (s *Server) svc(key string) *service {
	sv := s.svcs[key]
	if sv == nil {
		sv = &service{key: key, eps: map[uint32]map[netip.AddrPort]struct{}{}, subs: map[*sub]struct{}{},
			kept: map[uint32]map[netip.AddrPort]struct{}{}}
		s.svcs[key] = sv
	}
	return sv
}

func (s *Server) setLocked(sv *service, port uint32, eps []netip.AddrPort) {
	old := sv.eps[port]
	next := make(map[netip.AddrPort]struct{}, len(eps))
	for _, e := range eps {
		next[e] = struct{}{}
	}
	var added, removed []netip.AddrPort
	for e := range next {
		if _, ok := old[e]; !ok {
			added = append(added, e)
		}
	}
	for e := range sv.kept[port] {
		next[e] = struct{}{}
	}
	for e := range old {
		if _, ok := next[e]; !ok {
			removed = append(removed, e)
		}
	}
	removed = s.withholdLocked(sv, port, next, removed)
	sv.eps[port] = next
	if len(added) == 0 && len(removed) == 0 {
		return
	}
	now := time.Now()
	var ups []*pb.Update
	if len(added) > 0 {
		ups = append(ups, addUpdate(added))
	}
	if len(removed) > 0 {
		ups = append(ups, removeUpdate(removed))
	}
	for sb := range sv.subs {
		if sb.port != port {
			continue
		}
		for _, u := range ups {
			select {
			case sb.q <- pending{u: u, at: now}:
			default:
				// Linkerd ends an overflowing stream with status OK.
				s.overflow.Add(1)
				sb.finish(nil)
			}
		}
	}
}

// Get implements Destination.Get.
func (s *Server) Get(req *pb.GetDestination, stream grpc.ServerStreamingServer[pb.Update]) error {
	key, port, err := s.parsePath(req.GetPath())
	if err != nil {
		return err
	}
	sb := &sub{port: port, q: make(chan pending, s.queueCap), end: make(chan struct{})}
	s.mu.Lock()
	sv := s.svcs[key]
	if sv == nil || !sv.exists {
		s.mu.Unlock()
		s.notFound.Add(1)
		ns, name, _ := strings.Cut(key, "/")
		return status.Errorf(codes.NotFound, "Service %s.%s not found", name, ns)
	}
	var snapshot *pb.Update
	if eps := sv.eps[port]; len(eps) > 0 {
		all := make([]netip.AddrPort, 0, len(eps))
		for e := range eps {
			all = append(all, e)
		}
		snapshot = addUpdate(all)
	}
	sv.subs[sb] = struct{}{}
	s.mu.Unlock()
	s.streams.Add(1)
	s.opened.Add(1)
	defer func() {
		s.mu.Lock()
		delete(sv.subs, sb)
		s.mu.Unlock()
		s.streams.Add(-1)
	}()

	ctx := stream.Context()
	if snapshot != nil {
		if err := s.send(stream, snapshot); err != nil {
			return err
		}
	}
	var timer *time.Timer
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-sb.end:
			return sb.endErr
		case p := <-sb.q:
			if d := time.Duration(s.delay.Load()); d > 0 {
				if wait := time.Until(p.at.Add(d)); wait > 0 {
					if timer == nil {
						timer = time.NewTimer(wait)
					} else {
						timer.Reset(wait)
					}
					select {
					case <-timer.C:
					case <-ctx.Done():
						return ctx.Err()
					case <-sb.end:
						return sb.endErr
					}
				}
			}
			if err := s.send(stream, p.u); err != nil {
				return err
			}
		}
	}
}

func (s *Server) send(stream grpc.ServerStreamingServer[pb.Update], u *pb.Update) error {
	if s.stamp {
		if add := u.GetAdd(); add != nil {
			// Updates are shared between streams: stamp a shallow copy.
			u = &pb.Update{Update: &pb.Update_Add{Add: &pb.WeightedAddrSet{
				Addrs:        add.Addrs,
				MetricLabels: map[string]string{StampLabel: strconv.FormatInt(time.Now().UnixNano(), 10)},
			}}}
		}
	}
	return stream.Send(u)
}

// parsePath accepts <svc>.<ns>.svc.<domain>[:<port>] like Linkerd does.
func (s *Server) parsePath(path string) (string, uint32, error) {
	host, portStr, hasPort := strings.Cut(path, ":")
	port := uint64(80)
	if hasPort {
		var err error
		if port, err = strconv.ParseUint(portStr, 10, 16); err != nil {
			return "", 0, status.Errorf(codes.InvalidArgument, "invalid port in %q", path)
		}
	}
	suffix := ".svc." + s.domain
	rest, ok := strings.CutSuffix(host, suffix)
	if !ok {
		return "", 0, status.Errorf(codes.InvalidArgument, "invalid authority %q: not in %s", path, s.domain)
	}
	parts := strings.Split(rest, ".")
	if len(parts) != 2 || parts[0] == "" || parts[1] == "" {
		return "", 0, status.Errorf(codes.InvalidArgument, "invalid authority %q", path)
	}
	return parts[1] + "/" + parts[0], uint32(port), nil
}

func tcpAddr(e netip.AddrPort) *netpb.TcpAddress {
	ip := &netpb.IPAddress{}
	a := e.Addr()
	if a.Is4() || a.Is4In6() {
		b := a.Unmap().As4()
		ip.Ip = &netpb.IPAddress_Ipv4{Ipv4: uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])}
	} else {
		b := a.As16()
		var first, last uint64
		for i := 0; i < 8; i++ {
			first = first<<8 | uint64(b[i])
			last = last<<8 | uint64(b[8+i])
		}
		ip.Ip = &netpb.IPAddress_Ipv6{Ipv6: &netpb.IPv6{First: first, Last: last}}
	}
	return &netpb.TcpAddress{Ip: ip, Port: uint32(e.Port())}
}

func addUpdate(eps []netip.AddrPort) *pb.Update {
	addrs := make([]*pb.WeightedAddr, len(eps))
	for i, e := range eps {
		addrs[i] = &pb.WeightedAddr{Addr: tcpAddr(e), Weight: 10000}
	}
	return &pb.Update{Update: &pb.Update_Add{Add: &pb.WeightedAddrSet{Addrs: addrs}}}
}

func removeUpdate(eps []netip.AddrPort) *pb.Update {
	addrs := make([]*netpb.TcpAddress, len(eps))
	for i, e := range eps {
		addrs[i] = tcpAddr(e)
	}
	return &pb.Update{Update: &pb.Update_Remove{Remove: &pb.AddrSet{Addrs: addrs}}}
}

// Authority is the Destination path of a service port, as proxies ask.
func Authority(ns, name string, port uint32, domain string) string {
	if domain == "" {
		domain = "cluster.local"
	}
	return fmt.Sprintf("%s.%s.svc.%s:%d", name, ns, domain, port)
}

// Endpoints returns the ready endpoints the server holds for a service port.
func (s *Server) Endpoints(key string, port uint32) []netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []netip.AddrPort
	if sv := s.svcs[key]; sv != nil {
		for e := range sv.eps[port] {
			out = append(out, e)
		}
	}
	return out
}
