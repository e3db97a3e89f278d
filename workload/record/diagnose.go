package record

import (
	"slices"
	"sort"
	"time"
)

// Endpoint diagnosis kinds.
const (
	// KindStale: streams hold an endpoint the EndpointSlices no longer
	// list as ready.
	KindStale = "stale"
	// KindMissing: the EndpointSlices list an endpoint as ready that
	// streams lack.
	KindMissing = "missing"
)

// DiagnosisGrace is how long after the EndpointSlices changed a stream may
// still disagree with them before Diagnose calls the endpoint stale or
// missing: shorter disagreements are updates in flight (the catalogue's
// update-latency bounds are 2-3 s at p99).
const DiagnosisGrace = 5 * time.Second

// EndpointDiagnosis is one endpoint of one service that streams got wrong
// at an event's deadline (the service's next event, or the end of the run):
// which streams, since when, for how long, and whether they recovered.
type EndpointDiagnosis struct {
	Service string `json:"service"`
	Addr    string `json:"addr"`
	Kind    string `json:"kind"`
	// Since is when the observer saw the endpoint leave the slices (stale)
	// or become ready in them (missing); zero when the slices never listed
	// it (stale only).
	Since time.Time `json:"since,omitzero"`
	// FirstDeadline is the first deadline at which a stream was wrong;
	// Seqs are the service's events at whose deadlines streams were.
	FirstDeadline time.Time `json:"firstDeadline"`
	Seqs          []uint64  `json:"seqs"`
	// Streams were wrong; Clients says which client processes held them.
	Streams int           `json:"streams"`
	Clients []ClientCount `json:"clients"`
	// Recovered streams got it right before the run ended (a Remove or Add,
	// a reconnect, or the slices changing back); the others were still
	// wrong at RunEnd.
	Recovered int `json:"recovered"`
	// WrongFor is the longest a stream was wrong: from Since (or
	// FirstDeadline) to its recovery, or to the end of the run.
	WrongFor time.Duration `json:"wrongFor"`
	// RecoveredBy is the last recovery among the recovered streams.
	RecoveredBy time.Time `json:"recoveredBy,omitzero"`
}

// ClientCount is how many of a diagnosis' streams one client process held.
type ClientCount struct {
	Client  string `json:"client"`
	Streams int    `json:"streams"`
}

// timed is one thing that happened to an endpoint on one stream, or in
// the slices, after a deadline.
type timed struct {
	t time.Time
	// on is the new state of the stream's set (held) or of the slices
	// (listed, inSlice).
	on       bool
	inSlice  bool
	end      bool // the stream's Get call ended, which empties its set
	snapshot bool
}

// Diagnose names the endpoints streams got wrong at their events'
// deadlines, from the missed StreamConvergence records (their Held sets)
// against the observer's EndpointChanges. end is the end of the run (zero:
// the latest record). It is pure: the same Set gives the same result.
func Diagnose(s Set, end time.Time) []EndpointDiagnosis {
	if end.IsZero() {
		end = latest(s)
	}
	changes := map[string]map[string][]EndpointChange{}
	for _, c := range s.EndpointChanges {
		if changes[c.Service] == nil {
			changes[c.Service] = map[string][]EndpointChange{}
		}
		changes[c.Service][c.Addr] = append(changes[c.Service][c.Addr], c)
	}
	for _, byAddr := range changes {
		for _, cs := range byAddr {
			sort.SliceStable(cs, func(i, j int) bool { return cs[i].Time.Before(cs[j].Time) })
		}
	}
	receipts := map[receiptKey][]Receipt{}
	for _, r := range s.Receipts {
		k := receiptKey{streamKey{r.Client, r.Stream}, r.Addr}
		receipts[k] = append(receipts[k], r)
	}
	ends := map[streamKey][]time.Time{}
	for _, e := range s.StreamEnds {
		k := streamKey{e.Client, e.Stream}
		ends[k] = append(ends[k], e.Time)
	}

	type groupKey struct {
		service, addr, kind string
		since               time.Time
	}
	type group struct {
		d       EndpointDiagnosis
		streams map[streamKey]bool
		seqs    map[uint64]bool
	}
	groups := map[groupKey]*group{}
	found := func(c StreamConvergence, addr, kind string, since time.Time, held bool) {
		k := groupKey{c.Service, addr, kind, since}
		g := groups[k]
		if g == nil {
			g = &group{d: EndpointDiagnosis{Service: c.Service, Addr: addr, Kind: kind, Since: since, FirstDeadline: c.Deadline},
				streams: map[streamKey]bool{}, seqs: map[uint64]bool{}}
			groups[k] = g
		}
		g.seqs[c.Seq] = true
		if c.Deadline.Before(g.d.FirstDeadline) {
			g.d.FirstDeadline = c.Deadline
		}
		sk := streamKey{c.Client, c.Stream}
		if g.streams[sk] {
			return
		}
		g.streams[sk] = true
		from := since
		if from.IsZero() {
			from = c.Deadline
		}
		fixed, ok := recovery(c.Deadline, held, receipts[receiptKey{sk, addr}], ends[sk], changes[c.Service][addr], end)
		if ok {
			g.d.Recovered++
			g.d.RecoveredBy = maxTime(g.d.RecoveredBy, fixed)
		} else {
			fixed = end
		}
		g.d.WrongFor = max(g.d.WrongFor, fixed.Sub(from))
	}

	for _, c := range s.StreamConvergence {
		if !c.Missed || c.Deadline.IsZero() {
			continue
		}
		d := c.Deadline
		held := map[string]bool{}
		for _, a := range c.Held {
			held[a] = true
		}
		byAddr := changes[c.Service]
		for _, a := range c.Held {
			lc, ok := lastAt(byAddr[a], d)
			switch {
			case ok && lc.Ready:
			case ok && d.Sub(lc.Time) >= DiagnosisGrace:
				found(c, a, KindStale, lc.Time, true)
			case !ok && !listedSoon(byAddr[a], d):
				found(c, a, KindStale, time.Time{}, true)
			}
		}
		for a, cs := range byAddr {
			if lc, ok := lastAt(cs, d); ok && lc.Ready && !held[a] && d.Sub(lc.Time) >= DiagnosisGrace {
				found(c, a, KindMissing, lc.Time, false)
			}
		}
	}

	out := make([]EndpointDiagnosis, 0, len(groups))
	for _, g := range groups {
		perClient := map[string]int{}
		for sk := range g.streams {
			perClient[sk.client]++
		}
		for cl, n := range perClient {
			g.d.Clients = append(g.d.Clients, ClientCount{Client: cl, Streams: n})
		}
		sort.Slice(g.d.Clients, func(i, j int) bool { return g.d.Clients[i].Client < g.d.Clients[j].Client })
		for seq := range g.seqs {
			g.d.Seqs = append(g.d.Seqs, seq)
		}
		slices.Sort(g.d.Seqs)
		g.d.Streams = len(g.streams)
		out = append(out, g.d)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Kind != b.Kind {
			return a.Kind > b.Kind // stale first
		}
		if a.Service != b.Service {
			return a.Service < b.Service
		}
		if !a.FirstDeadline.Equal(b.FirstDeadline) {
			return a.FirstDeadline.Before(b.FirstDeadline)
		}
		if a.Addr != b.Addr {
			return a.Addr < b.Addr
		}
		return a.Since.Before(b.Since)
	})
	return out
}

// recovery walks what happened after deadline d to one endpoint on one
// stream (its receipts, the stream's ends, which empty its set) and in the
// slices, and returns when the two first agreed again.
func recovery(d time.Time, held bool, rs []Receipt, ends []time.Time, cs []EndpointChange, end time.Time) (time.Time, bool) {
	var ev []timed
	for _, r := range rs {
		if !r.Time.Before(d) {
			ev = append(ev, timed{t: r.Time, on: r.Add, snapshot: r.Snapshot})
		}
	}
	for _, t := range ends {
		if !t.Before(d) {
			ev = append(ev, timed{t: t, end: true})
		}
	}
	listed := false
	for _, c := range cs {
		if !c.Time.After(d) {
			listed = c.Ready
			continue
		}
		ev = append(ev, timed{t: c.Time, on: c.Ready, inSlice: true})
	}
	// At equal times a stream's end comes first: the snapshot that follows
	// it cannot precede it.
	sort.SliceStable(ev, func(i, j int) bool {
		if !ev[i].t.Equal(ev[j].t) {
			return ev[i].t.Before(ev[j].t)
		}
		return ev[i].end && !ev[j].end
	})
	for i, e := range ev {
		if e.t.After(end) {
			break
		}
		switch {
		case e.inSlice:
			listed = e.on
		case e.end && resent(ev[i+1:]):
			// The reconnect's snapshot has it again: still held.
			continue
		default:
			held = e.on
		}
		if held == listed {
			return e.t, true
		}
	}
	return time.Time{}, false
}

// resent: the stream's next connection (up to its next end) started with
// a snapshot holding the endpoint.
func resent(ev []timed) bool {
	for _, e := range ev {
		switch {
		case e.end:
			return false
		case e.snapshot && e.on:
			return true
		}
	}
	return false
}

// lastAt is an address's last observed change at or before t.
func lastAt(cs []EndpointChange, t time.Time) (EndpointChange, bool) {
	i := sort.Search(len(cs), func(i int) bool { return cs[i].Time.After(t) })
	if i == 0 {
		return EndpointChange{}, false
	}
	return cs[i-1], true
}

// listedSoon: the slices first list the address within the grace after t
// (a stream that got it before the observer saw it).
func listedSoon(cs []EndpointChange, t time.Time) bool {
	return len(cs) > 0 && cs[0].Ready && cs[0].Time.Sub(t) < DiagnosisGrace
}

func latest(s Set) time.Time {
	var t time.Time
	for _, st := range s.Streams {
		t = maxTime(t, st.Closed)
	}
	for _, c := range s.StreamConvergence {
		t = maxTime(t, c.Deadline)
		t = maxTime(t, c.Converged)
	}
	for _, r := range s.Receipts {
		t = maxTime(t, r.Time)
	}
	return t
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
