package client

import (
	"net/netip"
	"time"

	"github.com/dstload/dstload/workload/record"
)

// Scale events from churn's feed, what the streams did about them, and
// the records.

// OnEvent attaches a scale event (from churn's feed) to every stream of its
// service. An earlier event still unconverged is recorded as missed. A
// stream converges when it holds e.Want() endpoints: on a federated run the
// union of both clusters' members, not only the scaled cluster's.
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
		p := pendingEvent{seq: e.Seq, written: written, target: int32(e.Want()), active: true}
		switch {
		case st.firstSinceMark >= written:
			p.first = st.firstSinceMark
		case st.lastChange >= written:
			p.first = st.lastChange
		}
		st.firstSinceMark = 0
		st.pend = p
		if len(st.eps4)+len(st.eps6) == e.Want() {
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

// ReadySet is a service's ready endpoints, kept as a stream keeps its
// own, so that the two compare without making strings.
type ReadySet struct {
	v4 map[uint64]struct{}
	v6 map[netip.AddrPort]struct{}
}

// NewReadySet parses addrs ("ip:port"); one that does not parse is left
// out, as no stream can hold it.
func NewReadySet(addrs []string) ReadySet {
	rs := ReadySet{v4: map[uint64]struct{}{}, v6: map[netip.AddrPort]struct{}{}}
	for _, a := range addrs {
		ap, err := netip.ParseAddrPort(a)
		switch {
		case err != nil:
		case ap.Addr().Is4():
			rs.v4[key4(ap)] = struct{}{}
		default:
			rs.v6[ap] = struct{}{}
		}
	}
	return rs
}

// Disagreement is what one stream holds that the ready set lacks (Stale)
// and lacks that it has (Missing).
type Disagreement struct {
	Client  string
	Stream  uint32
	Service string
	Seq     uint64
	Stale   []string
	Missing []string
}

// Lagging compares with ready(service) every stream still waiting for an
// event written before writtenBefore, and returns those that disagree
// (ready's false: the service's set is unknown, its streams are left
// out). Only the wrong addresses become strings: at 1,000 streams of
// 1,000 endpoints, making strings of every held set for each progress
// line was a tenth of the clients' CPU.
func (c *Client) Lagging(writtenBefore time.Time, ready func(service string) (ReadySet, bool)) []Disagreement {
	var out []Disagreement
	for _, st := range c.streams {
		st.mu.Lock()
		if p := st.pend; p.active && p.written < writtenBefore.UnixNano() {
			if rs, ok := ready(c.keys[st.svc]); ok {
				d := Disagreement{Client: c.o.Name, Stream: st.id, Service: c.keys[st.svc], Seq: p.seq}
				d.Stale = lacking(st.eps4, st.eps6, rs.v4, rs.v6)
				d.Missing = lacking(rs.v4, rs.v6, st.eps4, st.eps6)
				if len(d.Stale)+len(d.Missing) > 0 {
					out = append(out, d)
				}
			}
		}
		st.mu.Unlock()
	}
	return out
}

// lacking is the addresses of the set (a4, a6) that (b4, b6) lacks.
func lacking(a4 map[uint64]struct{}, a6 map[netip.AddrPort]struct{}, b4 map[uint64]struct{}, b6 map[netip.AddrPort]struct{}) []string {
	var out []string
	for k := range a4 {
		if _, ok := b4[k]; !ok {
			out = append(out, unkey4(k).String())
		}
	}
	for ap := range a6 {
		if _, ok := b6[ap]; !ok {
			out = append(out, ap.String())
		}
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
			Addr: r.addr.addrPort().String(), Add: r.add, Time: time.Unix(0, r.t), Snapshot: r.snapshot}
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
