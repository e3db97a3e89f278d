// Package observer watches the EndpointSlices of the churned services and
// records when each endpoint became ready or stopped being ready, and per
// scale event when the cluster itself reached the target (k8s
// convergence). It separates the cluster's own delay (controller-manager,
// scheduler, KWOK) from the destination controller's.
//
// The observer is the reference clock of every update latency: a change
// is timed when the observer sees it, and the streams' receipts are
// measured against that time. So it does as little as possible between
// the watch and the timestamp: one watch of the namespace's slices (no
// informer queue, no List per event), the time taken as the event leaves
// the watch, and a diff of that one slice against its previous state. On
// the local provider it runs in its own process (`dstload observe`), so
// that the thousands of client streams do not delay it (see docs/latency.md).
package observer

import (
	"fmt"
	"log/slog"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/dstload/dstload/workload/record"
)

// Observer records endpoint changes of a fixed set of services in one
// namespace.
type Observer struct {
	log       *slog.Logger
	namespace string
	portName  string
	// now is the clock; tests keep time.Now.
	now func() time.Time

	// mu guards everything below. The watch goroutine holds it for one
	// slice's diff; Records, Expect and Finish are rare.
	mu       sync.Mutex
	services map[string]*service // by service name
	slices   map[string]*slice   // by EndpointSlice name
	changes  []record.EndpointChange
	kube     []record.KubeConvergence
	synced   atomic.Bool
	events   atomic.Uint64 // watch events handled
	relists  atomic.Uint64
	// canary: the delivery delays of the canary's writes on the
	// observer's source; apiCanary (etcd source only) on an API watch of
	// the canary alone (canary.go).
	canary    *delays
	apiCanary *delays
	// podGone is when each pod of the namespace was seen deleted (etcd
	// source only). Linkerd drops an endpoint whose pod is gone without
	// waiting for its slice to change, so a removal's record carries its
	// pod's deletion when that came first (record.EndpointChange.PodGone).
	podGone map[string]time.Time
	// listed counts, per pod, the slices that list it ready: a deletion
	// is kept only while some slice lists the pod (pods.go).
	listed map[string]int
	// triggers are, per endpoint whose pod is gone while a slice still
	// lists it ready, the times of that slice's later events: each is a
	// moment the controller recomputes the slice and can drop the
	// endpoint (record.EndpointChange.Triggers).
	triggers map[netip.AddrPort][]time.Time

	mReady   prometheus.Gauge
	mChanges *prometheus.CounterVec
	mConv    prometheus.Histogram
	mMissed  prometheus.Counter
}

type service struct {
	key string
	// ready counts, per endpoint, the slices that list it as ready: an
	// endpoint moving between two slices stays ready throughout.
	ready      map[netip.AddrPort]int
	lastChange time.Time
	pend       *record.ScaleEvent
}

// slice is the last state of one EndpointSlice of an observed service:
// its ready endpoints and the pod each belongs to ("" when the endpoint
// names none).
type slice struct {
	svc   *service
	ready map[netip.AddrPort]string
}

// New observes the named services in namespace. portName selects the
// EndpointSlice port ("" = the slice's first port).
func New(log *slog.Logger, reg prometheus.Registerer, namespace string, services []string, portName string) *Observer {
	o := &Observer{log: log, namespace: namespace, portName: portName, now: time.Now,
		services: map[string]*service{}, slices: map[string]*slice{},
		canary:  newDelays(),
		podGone: map[string]time.Time{}, listed: map[string]int{}, triggers: map[netip.AddrPort][]time.Time{},
		mReady: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "dstload_observer_ready_endpoints", Help: "Ready endpoints of the observed services."}),
		mChanges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dstload_observer_endpoint_changes_total", Help: "Endpoints that became ready or gone."}, []string{"change"}),
		mConv: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "dstload_observer_kube_convergence_seconds", Help: "Ready endpoints reached the target, from churn's write.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 16)}),
		mMissed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dstload_observer_kube_missed_total", Help: "Events whose target the cluster did not reach before the next one."}),
	}
	reg.MustRegister(o.mReady, o.mChanges, o.mConv, o.mMissed)
	for _, s := range services {
		o.services[s] = &service{key: namespace + "/" + s, ready: map[netip.AddrPort]int{}}
	}
	return o
}

// Ready is nil once the initial state is recorded.
func (o *Observer) Ready() error {
	if !o.synced.Load() {
		return fmt.Errorf("endpointslices of %s not synced yet", o.namespace)
	}
	return nil
}

// ReadyEndpoints is the number of ready endpoints of the observed
// services (the dstload_observer_ready_endpoints gauge).
func (o *Observer) ReadyEndpoints() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, svc := range o.services {
		n += len(svc.ready)
	}
	return n
}

// ReadySet is the ready endpoints of one observed service
// ("namespace/name"), sorted; nil for a service it does not observe.
func (o *Observer) ReadySet(key string) []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, svc := range o.services {
		if svc.key != key {
			continue
		}
		out := make([]string, 0, len(svc.ready))
		for a := range svc.ready {
			out = append(out, a.String())
		}
		sort.Strings(out)
		return out
	}
	return nil
}

// KubeMissed is the number of events whose target the cluster did not
// reach before the service's next event (or the end, after Finish).
func (o *Observer) KubeMissed() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, k := range o.kube {
		if !k.Reached {
			n++
		}
	}
	return n
}

// Stats are the observer's own counters, for the report's instrument
// section.
type Stats struct {
	Events  uint64
	Relists uint64
}

// Stats returns the counters so far.
func (o *Observer) Stats() Stats { return Stats{Events: o.events.Load(), Relists: o.relists.Load()} }

// handleLocked applies one slice's new state.
func (o *Observer) handleLocked(es *discoveryv1.EndpointSlice, now time.Time, initial bool) {
	svc := o.services[es.Labels[discoveryv1.LabelServiceName]]
	old := o.slices[es.Name]
	if old != nil && old.svc != svc {
		// The slice changed services (never done by the EndpointSlice
		// controller, but cheap to get right).
		o.deleteLocked(es.Name, now)
		old = nil
	}
	if svc == nil {
		return
	}
	next := readyOf(es, o.portName)
	if old == nil {
		old = &slice{svc: svc, ready: map[netip.AddrPort]string{}}
		o.slices[es.Name] = old
	}
	changed := false
	for a, pod := range old.ready {
		if _, ok := next[a]; !ok {
			changed = o.decLocked(svc, a, pod, now, initial) || changed
		}
	}
	for a := range next {
		if _, ok := old.ready[a]; !ok {
			changed = o.incLocked(svc, a, now, initial) || changed
		}
	}
	prev := old.ready
	old.ready = next
	if changed {
		o.changedLocked(svc, now)
	}
	if len(o.podGone) > 0 {
		for a, pod := range next {
			if _, gone := o.podGone[pod]; gone {
				o.triggers[a] = appendTrigger(o.triggers[a], now)
			}
		}
	}
	o.listPodsLocked(prev, next)
}

func (o *Observer) deleteLocked(name string, now time.Time) {
	old := o.slices[name]
	if old == nil {
		return
	}
	delete(o.slices, name)
	changed := false
	for a, pod := range old.ready {
		changed = o.decLocked(old.svc, a, pod, now, false) || changed
	}
	if changed {
		o.changedLocked(old.svc, now)
	}
	o.listPodsLocked(old.ready, nil)
}

// incLocked counts one more slice listing a as ready; it reports whether a
// became ready.
func (o *Observer) incLocked(svc *service, a netip.AddrPort, now time.Time, initial bool) bool {
	svc.ready[a]++
	if svc.ready[a] != 1 {
		return false
	}
	o.changes = append(o.changes, record.EndpointChange{Service: svc.key, Addr: a.String(), Ready: true, Time: now, Initial: initial})
	o.mChanges.WithLabelValues("ready").Inc()
	o.mReady.Inc()
	return true
}

// decLocked counts one slice less listing a (of pod) as ready; it reports
// whether a stopped being ready.
func (o *Observer) decLocked(svc *service, a netip.AddrPort, pod string, now time.Time, initial bool) bool {
	n := svc.ready[a] - 1
	if n > 0 {
		svc.ready[a] = n
		return false
	}
	delete(svc.ready, a)
	c := record.EndpointChange{Service: svc.key, Addr: a.String(), Ready: false, Time: now, Initial: initial}
	if t, ok := o.podGone[pod]; ok && t.Before(now) {
		c.PodGone, c.Triggers = t, o.triggers[a]
	}
	delete(o.triggers, a)
	o.changes = append(o.changes, c)
	o.mChanges.WithLabelValues("gone").Inc()
	o.mReady.Dec()
	return true
}

func (o *Observer) changedLocked(svc *service, now time.Time) {
	svc.lastChange = now
	if p := svc.pend; p != nil && len(svc.ready) == p.Target {
		o.reached(svc, now)
	}
}

func (o *Observer) reached(svc *service, t time.Time) {
	p := svc.pend
	o.kube = append(o.kube, record.KubeConvergence{Service: p.Service, Seq: p.Seq, Target: p.Target, Reached: true, Time: t})
	o.mConv.Observe(t.Sub(p.Time).Seconds())
	svc.pend = nil
}

func (o *Observer) missed(svc *service) {
	p := svc.pend
	o.kube = append(o.kube, record.KubeConvergence{Service: p.Service, Seq: p.Seq, Target: p.Target})
	o.mMissed.Inc()
	svc.pend = nil
}

// Expect tells the observer about a scale event just written; an earlier
// event of the service that is still unreached is recorded as not reached.
func (o *Observer) Expect(e record.ScaleEvent) {
	o.mu.Lock()
	defer o.mu.Unlock()
	svc := o.services[serviceName(e.Service)]
	if svc == nil {
		return
	}
	if svc.pend != nil {
		o.missed(svc)
	}
	svc.pend = &e
	if len(svc.ready) == e.Target {
		t := e.Time
		if svc.lastChange.After(t) {
			t = svc.lastChange
		}
		o.reached(svc, t)
	}
}

// Finish records every still pending event as not reached (end of run).
func (o *Observer) Finish() {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, svc := range o.services {
		if svc.pend != nil {
			o.missed(svc)
		}
	}
}

// Records returns a snapshot of the observer's records.
func (o *Observer) Records() record.Set {
	o.mu.Lock()
	defer o.mu.Unlock()
	return record.Set{
		EndpointChanges: append([]record.EndpointChange(nil), o.changes...),
		KubeConvergence: append([]record.KubeConvergence(nil), o.kube...),
	}
}

func serviceName(key string) string {
	for i := len(key) - 1; i >= 0; i-- {
		if key[i] == '/' {
			return key[i+1:]
		}
	}
	return key
}

// ReadyEndpoints collects the ready IP:port endpoints of a service's
// slices. An endpoint is ready when its Ready condition is true or unset
// (as Linkerd reads it); the port is the slice port named portName, or the
// slice's first port when portName is empty.
func ReadyEndpoints(slices []*discoveryv1.EndpointSlice, portName string) map[netip.AddrPort]struct{} {
	out := map[netip.AddrPort]struct{}{}
	for _, es := range slices {
		for a := range readyOf(es, portName) {
			out[a] = struct{}{}
		}
	}
	return out
}

func readyOf(es *discoveryv1.EndpointSlice, portName string) map[netip.AddrPort]string {
	out := make(map[netip.AddrPort]string, len(es.Endpoints))
	port := -1
	for _, p := range es.Ports {
		name := ""
		if p.Name != nil {
			name = *p.Name
		}
		if p.Port != nil && (name == portName || (portName == "" && port < 0)) {
			port = int(*p.Port)
			break
		}
	}
	if port < 0 {
		return out
	}
	for _, ep := range es.Endpoints {
		if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
			continue
		}
		pod := ""
		if ep.TargetRef != nil && ep.TargetRef.Kind == "Pod" {
			pod = ep.TargetRef.Name
		}
		for _, a := range ep.Addresses {
			ip, err := netip.ParseAddr(a)
			if err != nil {
				continue
			}
			out[netip.AddrPortFrom(ip, uint16(port))] = pod
		}
	}
	return out
}
