package client

import (
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
