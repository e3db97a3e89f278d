package record

import (
	"sort"
	"time"
)

// StreamChange is one endpoint change (as the observer saw it) that one
// sampled stream should receive.
type StreamChange struct {
	Client   string    `json:"client"`
	Stream   uint32    `json:"stream"`
	Service  string    `json:"service"`
	Addr     string    `json:"addr"`
	Ready    bool      `json:"ready"`
	Observed time.Time `json:"observed"`
	// Cluster is the changed slices' cluster (EndpointChange.Cluster).
	Cluster string `json:"cluster,omitempty"`
}

// before orders changes by observation time, then client, stream and
// address, so that Analyze's output does not depend on map order.
func (c StreamChange) before(d StreamChange) bool {
	if !c.Observed.Equal(d.Observed) {
		return c.Observed.Before(d.Observed)
	}
	if c.Client != d.Client {
		return c.Client < d.Client
	}
	if c.Stream != d.Stream {
		return c.Stream < d.Stream
	}
	return c.Addr < d.Addr
}

// UpdateLatency is the update latency (docs/latency.md) of one endpoint change
// and one sampled stream: from the observer seeing the change in the
// EndpointSlices to the stream receiving the matching Add or Remove.
type UpdateLatency struct {
	StreamChange
	Received time.Time     `json:"received"`
	Latency  time.Duration `json:"latency"`
	// FromPod: a Remove received after the endpoint's pod was deleted but
	// before the slice dropped it, timed from the deletion.
	FromPod bool `json:"fromPod,omitempty"`
}

// MissedUpdate is an endpoint change a sampled stream never received (no
// matching Add/Remove before the address changed again or the run ended).
type MissedUpdate struct {
	StreamChange
}

// StreamEventResult is one stream's latencies for one scale event.
type StreamEventResult struct {
	Client  string `json:"client"`
	Stream  uint32 `json:"stream"`
	Service string `json:"service"`
	Seq     uint64 `json:"seq"`
	// E2E is client convergence - API write (0 when missed).
	E2E time.Duration `json:"e2e"`
	// FirstUpdate is first change seen - API write (HasFirstUpdate false
	// when the stream saw no change, e.g. the event changed nothing).
	FirstUpdate    time.Duration `json:"firstUpdate"`
	HasFirstUpdate bool          `json:"hasFirstUpdate"`
	Missed         bool          `json:"missed"`
}

// EventResult is one scale event's outcome across the cluster and all streams.
type EventResult struct {
	Service string    `json:"service"`
	Seq     uint64    `json:"seq"`
	Target  int       `json:"target"`
	Written time.Time `json:"written"`
	// Cluster and Expect are the event's (ScaleEvent): on a federated run
	// the scaled cluster and the union the streams converge to; Target and
	// the k8s convergence are then that cluster's alone.
	Cluster string `json:"cluster,omitempty"`
	Expect  int    `json:"expect,omitempty"`
	// KubeReached/KubeConvergence: when ready endpoints == target, measured
	// from the write (KubeConvergence is a duration since Written).
	KubeReached     bool          `json:"kubeReached"`
	KubeConvergence time.Duration `json:"kubeConvergence"`
	// Streams that reported the event, and how many of them converged.
	Streams   int `json:"streams"`
	Converged int `json:"converged"`
	Missed    int `json:"missed"`
	// FanoutComplete is true when the cluster and every stream converged;
	// FanoutCompletion is then the last stream's convergence - k8s
	// convergence (what "all clients see every change within N s" judges).
	FanoutComplete   bool          `json:"fanoutComplete"`
	FanoutCompletion time.Duration `json:"fanoutCompletion"`
	// Outcome says whose the event's end was (Outcome* constants).
	Outcome string `json:"outcome"`
}

// Event outcomes: why an event did or did not complete its fanout.
const (
	// OutcomeComplete: the cluster reached the target and every stream
	// converged.
	OutcomeComplete = "complete"
	// OutcomeClusterLimited: the cluster did not reach the target before
	// the service's next event; the destination had nothing to fan out.
	OutcomeClusterLimited = "cluster-limited"
	// OutcomeController: the cluster reached the target but some stream
	// did not converge: the destination controller's.
	OutcomeController = "controller"
	// OutcomeRunEnded: the service's last event, and the run ended before
	// the cluster reached its target.
	OutcomeRunEnded = "run-ended"
	// OutcomeNoStreams: no stream subscribed to the service.
	OutcomeNoStreams = "no-streams"
)

// EndCount counts stream ends by cause.
type EndCount struct {
	Cause string `json:"cause"`
	Count int    `json:"count"`
}

// Analysis is everything a report needs besides aggregation.
type Analysis struct {
	UpdateLatencies []UpdateLatency     `json:"updateLatencies"`
	MissedUpdates   []MissedUpdate      `json:"missedUpdates"`
	Events          []EventResult       `json:"events"`
	StreamEvents    []StreamEventResult `json:"streamEvents"`
	Ends            []EndCount          `json:"ends"`
	// SampledStreams/TotalStreams: the receipts behind UpdateLatencies came
	// from this many of all streams.
	SampledStreams int `json:"sampledStreams"`
	TotalStreams   int `json:"totalStreams"`
	ScaleFailures  int `json:"scaleFailures"`
}

type eventKey struct {
	service string
	seq     uint64
}

type streamKey struct {
	client string
	stream uint32
}

type receiptKey struct {
	streamKey
	addr string
}

// podCause is the latest signal before t that can have made the
// controller drop c's endpoint early: its pod's deletion, or a later event
// of the slice still listing it (the controller recomputes the slice and
// finds the pod gone). A receipt before the deletion keeps the deletion.
func podCause(c EndpointChange, t time.Time) time.Time {
	ref := c.PodGone
	for _, tr := range c.Triggers {
		if tr.After(ref) && !tr.After(t) {
			ref = tr
		}
	}
	return ref
}

// Analyze joins churn, observer and client records into docs/latency.md's
// numbers. It is pure: the same Set gives the same Analysis.
//
// Update latency matching: an endpoint's observed changes alternate
// (ready, gone, ready ...). For change i of an address, a sampled stream's
// matching receipt is its first Add (for ready) or Remove (for gone) of that
// address at or after change i-1 and before change i+1, so a slightly early
// receipt (informer skew) still matches and a receipt is never reused for a
// later change. Only changes while the stream existed count; a receipt that
// was part of a reconnect snapshot is neither a latency nor a miss. A
// receipt is timed from the latest cluster signal before it that could
// have caused it: the slice change, or for a removal received before the
// slice changed, the pod's deletion or a later event of its slice
// (EndpointChange.PodGone, Triggers).
func Analyze(s Set) Analysis {
	var a Analysis
	a.ScaleFailures = len(s.ScaleFailures)
	a.TotalStreams = len(s.Streams)

	// Endpoint changes per service and address, in time order.
	changes := map[string]map[string][]EndpointChange{}
	for _, c := range s.EndpointChanges {
		byAddr := changes[c.Service]
		if byAddr == nil {
			byAddr = map[string][]EndpointChange{}
			changes[c.Service] = byAddr
		}
		byAddr[c.Addr] = append(byAddr[c.Addr], c)
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
	for _, rs := range receipts {
		sort.SliceStable(rs, func(i, j int) bool { return rs[i].Time.Before(rs[j].Time) })
	}

	for _, st := range s.Streams {
		if !st.Sampled {
			continue
		}
		a.SampledStreams++
		for addr, cs := range changes[st.Service] {
			rs := receipts[receiptKey{streamKey{st.Client, st.Stream}, addr}]
			for i, c := range cs {
				if c.Initial || c.Time.Before(st.Opened) || (!st.Closed.IsZero() && c.Time.After(st.Closed)) {
					continue
				}
				var lo, hi time.Time
				if i > 0 {
					lo = cs[i-1].Time
				}
				if i+1 < len(cs) {
					hi = cs[i+1].Time
				}
				r, ok := firstReceipt(rs, c.Ready, lo, hi)
				change := StreamChange{
					Client: st.Client, Stream: st.Stream, Service: st.Service,
					Addr: addr, Ready: c.Ready, Observed: c.Time, Cluster: c.Cluster,
				}
				switch {
				case !ok:
					a.MissedUpdates = append(a.MissedUpdates, MissedUpdate{change})
				case r.Snapshot:
				default:
					ul := UpdateLatency{StreamChange: change, Received: r.Time, Latency: r.Time.Sub(c.Time)}
					// A Remove before the slice changed, once the pod was
					// gone, answered the pod's deletion.
					if !c.PodGone.IsZero() && r.Time.Before(c.Time) {
						ul.Latency, ul.FromPod = r.Time.Sub(podCause(c, r.Time)), true
					}
					a.UpdateLatencies = append(a.UpdateLatencies, ul)
				}
			}
		}
	}
	sort.Slice(a.UpdateLatencies, func(i, j int) bool {
		return a.UpdateLatencies[i].before(a.UpdateLatencies[j].StreamChange)
	})
	sort.Slice(a.MissedUpdates, func(i, j int) bool {
		return a.MissedUpdates[i].before(a.MissedUpdates[j].StreamChange)
	})

	// Per event: the cluster, then every stream.
	kube := map[eventKey]KubeConvergence{}
	for _, k := range s.KubeConvergence {
		kube[eventKey{k.Service, k.Seq}] = k
	}
	perEvent := map[eventKey][]StreamConvergence{}
	for _, c := range s.StreamConvergence {
		k := eventKey{c.Service, c.Seq}
		perEvent[k] = append(perEvent[k], c)
	}
	events := append([]ScaleEvent(nil), s.ScaleEvents...)
	sort.SliceStable(events, func(i, j int) bool {
		if !events[i].Time.Equal(events[j].Time) {
			return events[i].Time.Before(events[j].Time)
		}
		if events[i].Service != events[j].Service {
			return events[i].Service < events[j].Service
		}
		return events[i].Seq < events[j].Seq
	})
	// An event with a later one of the same service was superseded.
	lastSeq := map[string]uint64{}
	for _, e := range events {
		lastSeq[e.Service] = max(lastSeq[e.Service], e.Seq)
	}
	for _, e := range events {
		k := eventKey{e.Service, e.Seq}
		er := EventResult{Service: e.Service, Seq: e.Seq, Target: e.Target, Written: e.Time, Cluster: e.Cluster, Expect: e.Expect}
		kc, ok := kube[k]
		if ok && kc.Reached {
			er.KubeReached = true
			er.KubeConvergence = kc.Time.Sub(e.Time)
		}
		scs := perEvent[k]
		sort.Slice(scs, func(i, j int) bool {
			if scs[i].Client != scs[j].Client {
				return scs[i].Client < scs[j].Client
			}
			return scs[i].Stream < scs[j].Stream
		})
		var last time.Time
		for _, sc := range scs {
			er.Streams++
			r := StreamEventResult{Client: sc.Client, Stream: sc.Stream, Service: sc.Service, Seq: sc.Seq}
			if !sc.FirstChange.IsZero() {
				r.HasFirstUpdate = true
				r.FirstUpdate = sc.FirstChange.Sub(e.Time)
			}
			if sc.Missed || sc.Converged.IsZero() {
				r.Missed = true
				er.Missed++
			} else {
				er.Converged++
				r.E2E = sc.Converged.Sub(e.Time)
				if sc.Converged.After(last) {
					last = sc.Converged
				}
			}
			a.StreamEvents = append(a.StreamEvents, r)
		}
		if er.KubeReached && er.Streams > 0 && er.Missed == 0 {
			er.FanoutComplete = true
			er.FanoutCompletion = last.Sub(kc.Time)
		}
		er.Outcome = outcome(er, e.Seq < lastSeq[e.Service])
		a.Events = append(a.Events, er)
	}

	ends := map[string]int{}
	for _, e := range s.StreamEnds {
		ends[e.Cause]++
	}
	for c, n := range ends {
		a.Ends = append(a.Ends, EndCount{Cause: c, Count: n})
	}
	sort.Slice(a.Ends, func(i, j int) bool { return a.Ends[i].Cause < a.Ends[j].Cause })
	return a
}

// firstReceipt finds the first receipt of the wanted kind in [lo, hi); a zero
// bound is open.
func firstReceipt(rs []Receipt, add bool, lo, hi time.Time) (Receipt, bool) {
	i := sort.Search(len(rs), func(i int) bool { return !rs[i].Time.Before(lo) })
	for ; i < len(rs); i++ {
		r := rs[i]
		if !hi.IsZero() && !r.Time.Before(hi) {
			break
		}
		if r.Add == add {
			return r, true
		}
	}
	return Receipt{}, false
}

// outcome attributes an event's end: the cluster's when it never reached
// the target (superseded, or the run ended first), the controller's when
// the cluster did and a stream still did not converge.
func outcome(er EventResult, superseded bool) string {
	switch {
	case er.Streams == 0:
		return OutcomeNoStreams
	case er.FanoutComplete:
		return OutcomeComplete
	case !er.KubeReached && superseded:
		return OutcomeClusterLimited
	case !er.KubeReached:
		return OutcomeRunEnded
	}
	return OutcomeController
}
