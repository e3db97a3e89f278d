package dsttest

import (
	"net/netip"
	"slices"
	"time"
)

// Withheld is the endpoint whose Remove WithholdRemove kept back.
type Withheld struct {
	Service string // "ns/name"
	Addr    netip.AddrPort
	// At is when the server learned that it left the slices.
	At time.Time
}

type withholdReq struct {
	hold time.Duration
	ch   chan Withheld
}

// WithholdRemove makes the server keep the next endpoint that leaves a
// service (the smallest address of that update): no stream gets its Remove
// and new streams get it in their snapshot, as a controller with a stale
// endpoint does. After hold it is removed (hold 0: never). The channel
// says which endpoint it was, once.
func (s *Server) WithholdRemove(hold time.Duration) <-chan Withheld {
	ch := make(chan Withheld, 1)
	s.mu.Lock()
	s.withhold = &withholdReq{hold: hold, ch: ch}
	s.mu.Unlock()
	return ch
}

// withholdLocked takes one endpoint out of removed when a WithholdRemove
// is pending, keeping it in next; it returns what is still removed.
func (s *Server) withholdLocked(sv *service, port uint32, next map[netip.AddrPort]struct{}, removed []netip.AddrPort) []netip.AddrPort {
	w := s.withhold
	if w == nil || len(removed) == 0 {
		return removed
	}
	s.withhold = nil
	slices.SortFunc(removed, func(a, b netip.AddrPort) int { return a.Compare(b) })
	e := removed[0]
	if sv.kept[port] == nil {
		sv.kept[port] = map[netip.AddrPort]struct{}{}
	}
	sv.kept[port][e] = struct{}{}
	next[e] = struct{}{}
	w.ch <- Withheld{Service: sv.key, Addr: e, At: time.Now()}
	if w.hold > 0 {
		time.AfterFunc(w.hold, func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.releaseLocked(sv, port, e)
		})
	}
	return removed[1:]
}

// ReleaseWithheld sends the Removes still withheld (and cancels a
// WithholdRemove that has not taken one yet), so that a server shared by
// tests serves the slices again.
func (s *Server) ReleaseWithheld() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.withhold = nil
	for _, sv := range s.svcs {
		for port, kept := range sv.kept {
			for e := range kept {
				s.releaseLocked(sv, port, e)
			}
		}
	}
}

// releaseLocked stops keeping e: it leaves the port's endpoints, and the
// streams get its Remove.
func (s *Server) releaseLocked(sv *service, port uint32, e netip.AddrPort) {
	if _, ok := sv.kept[port][e]; !ok {
		return
	}
	delete(sv.kept[port], e)
	rest := make([]netip.AddrPort, 0, len(sv.eps[port]))
	for a := range sv.eps[port] {
		if a != e {
			rest = append(rest, a)
		}
	}
	s.setLocked(sv, port, rest)
}
