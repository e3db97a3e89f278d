package client

import (
	"net/netip"
	"time"
)

// How a stream's endpoint set follows the updates it receives, and
// when it counts as converged on an event.

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
				c.receipts = append(c.receipts, receipt{t: now, addr: pack(ap), stream: st.id, add: true, snapshot: snapshot})
			}
		}
	case kindRemove:
		c.m.removes.Inc()
		for _, ap := range u.addrs {
			remove(st, ap)
			if rec {
				c.receipts = append(c.receipts, receipt{t: now, addr: pack(ap), stream: st.id, snapshot: snapshot})
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
