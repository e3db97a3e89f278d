package runner

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"

	"github.com/dstload/dstload/workload/client"
	"github.com/dstload/dstload/workload/record"
)

// live is what the progress lines remember between two of them: the
// stream counters at the last line, and the missed events still to check
// for stale and missing endpoints.
type live struct {
	errs, reconnects int
	cursors          []int
	pending          []record.StreamConvergence
	told             map[string]bool // "kind service addr" already said
	// lagging were wrong on a stream still waiting for its event at the
	// last line: said when they still are at this one.
	lagging map[string]bool
}

// deltas are the stream errors and reconnects since the last line.
func (l *live) deltas(cl *clients) string {
	errs, reconnects := 0, 0
	for _, c := range cl.list {
		st := c.Stats()
		reconnects += int(st.Reconnects)
		for cause, n := range st.Ends {
			if cause != record.CauseEndOK && cause != record.CauseLifetime {
				errs += n
			}
		}
	}
	s := fmt.Sprintf("+%d stream errors, +%d reconnects since the last line", errs-l.errs, reconnects-l.reconnects)
	l.errs, l.reconnects = errs, reconnects
	return s
}

// wrongEndpoints names the endpoints that streams hold or lack against the
// observer's ready set now: streams that missed an event, once its
// deadline is record.DiagnosisGrace old (sooner, an update may be in
// flight), and streams still waiting for an event written longer ago than
// that, when they were wrong at the last line too. Each endpoint is said
// once; report.md has the full story.
func (l *live) wrongEndpoints(ctx context.Context, cl *clients, obs observers) []string {
	if l.told == nil {
		l.told = map[string]bool{}
	}
	for len(l.cursors) < len(cl.list) {
		l.cursors = append(l.cursors, 0)
	}
	now := time.Now()
	// The observer's ready set of each service asked about, read once.
	ready := map[string]map[string]bool{}
	readySet := func(service string) map[string]bool {
		rs, ok := ready[service]
		if !ok {
			var err error
			if rs, err = obs.readySet(ctx, service); err != nil {
				rs = nil
			}
			ready[service] = rs
		}
		return rs
	}
	parsed := map[string]client.ReadySet{}
	lagReady := func(service string) (client.ReadySet, bool) {
		rs := readySet(service)
		if rs == nil {
			return client.ReadySet{}, false
		}
		p, ok := parsed[service]
		if !ok {
			p = client.NewReadySet(slices.Collect(maps.Keys(rs)))
			parsed[service] = p
		}
		return p, true
	}
	var lagging []client.Disagreement
	for i, c := range cl.list {
		var got []record.StreamConvergence
		got, l.cursors[i] = c.MissedSince(l.cursors[i])
		l.pending = append(l.pending, got...)
		lagging = append(lagging, c.Lagging(now.Add(-record.DiagnosisGrace), lagReady)...)
	}
	type key struct{ kind, service, addr string }
	streams := map[key]int{}
	clients := map[key]map[string]bool{}
	nowLagging := map[string]bool{}
	keep := l.pending[:0]
	// Missed events whose grace is over are compared here; the streams
	// still waiting were compared by Lagging.
	var wrong []client.Disagreement
	for _, m := range l.pending {
		if now.Sub(m.Deadline) < record.DiagnosisGrace {
			keep = append(keep, m)
			continue
		}
		rs := readySet(m.Service)
		if rs == nil {
			continue
		}
		d := client.Disagreement{Client: m.Client, Stream: m.Stream, Service: m.Service, Seq: m.Seq}
		held := map[string]bool{}
		for _, a := range m.Held {
			held[a] = true
			if !rs[a] {
				d.Stale = append(d.Stale, a)
			}
		}
		for a := range rs {
			if !held[a] {
				d.Missing = append(d.Missing, a)
			}
		}
		wrong = append(wrong, d)
	}
	nDue := len(wrong)
	for i, d := range append(wrong, lagging...) {
		add := func(k key) {
			streams[k]++
			if clients[k] == nil {
				clients[k] = map[string]bool{}
			}
			clients[k][d.Client] = true
		}
		// A stream still waiting may disagree for an update in flight:
		// what it got wrong counts when it still does a line later.
		seen := func(k key) {
			id := k.kind + " " + k.service + " " + k.addr
			if i < nDue || l.lagging[id] {
				add(k)
			}
			nowLagging[id] = true
		}
		for _, a := range d.Stale {
			seen(key{record.KindStale, d.Service, a})
		}
		for _, a := range d.Missing {
			seen(key{record.KindMissing, d.Service, a})
		}
	}
	l.pending, l.lagging = keep, nowLagging
	var out []string
	for k, n := range streams {
		id := k.kind + " " + k.service + " " + k.addr
		if l.told[id] {
			continue
		}
		l.told[id] = true
		verb := "held by"
		if k.kind == record.KindMissing {
			verb = "lacked by"
		}
		out = append(out, fmt.Sprintf("%s endpoint %s of %s: %s %d streams of %d client processes after an event, and the slices still disagree",
			k.kind, k.addr, k.service, verb, n, len(clients[k])))
	}
	sort.Strings(out)
	if len(out) > 10 {
		out = append(out[:10], fmt.Sprintf("and %d more wrong endpoints (report.md names them all)", len(out)-10))
	}
	return out
}
