// Package observer watches the EndpointSlices of the churned services and
// records when each endpoint became ready or stopped being ready, and per
// scale event when the cluster itself reached the target (k8s
// convergence). It runs in churn's process and separates the cluster's own
// delay (controller-manager, scheduler, KWOK) from the destination
// controller's.
package observer

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listersv1 "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"

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

	mu       sync.Mutex
	services map[string]*service // by service name
	changes  []record.EndpointChange
	kube     []record.KubeConvergence
	synced   atomic.Bool

	mReady   prometheus.Gauge
	mChanges *prometheus.CounterVec
	mConv    prometheus.Histogram
	mMissed  prometheus.Counter
}

type service struct {
	key        string
	ready      map[netip.AddrPort]struct{}
	lastChange time.Time
	pend       *record.ScaleEvent
}

// New observes the named services in namespace. portName selects the
// EndpointSlice port ("" = the slice's first port).
func New(log *slog.Logger, reg prometheus.Registerer, namespace string, services []string, portName string) *Observer {
	o := &Observer{log: log, namespace: namespace, portName: portName, now: time.Now, services: map[string]*service{},
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
		o.services[s] = &service{key: namespace + "/" + s, ready: map[netip.AddrPort]struct{}{}}
	}
	return o
}

// Start watches the EndpointSlices until ctx ends; it returns once the
// initial state is recorded (those endpoints are marked Initial).
func (o *Observer) Start(ctx context.Context, cs kubernetes.Interface) error {
	f := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace(o.namespace))
	inf := f.Discovery().V1().EndpointSlices()
	lister := inf.Lister()
	handle := func(obj any, initial bool) {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		es, ok := obj.(*discoveryv1.EndpointSlice)
		if !ok {
			return
		}
		o.sync(lister, es.Labels[discoveryv1.LabelServiceName], initial)
	}
	reg, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerDetailedFuncs{
		AddFunc:    handle,
		UpdateFunc: func(_, n any) { handle(n, false) },
		DeleteFunc: func(obj any) { handle(obj, false) },
	})
	if err != nil {
		return fmt.Errorf("watch endpointslices: %w", err)
	}
	f.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), reg.HasSynced) {
		f.Shutdown()
		return fmt.Errorf("sync endpointslices in %s: %w", o.namespace, context.Cause(ctx))
	}
	o.synced.Store(true)
	go func() {
		<-ctx.Done()
		f.Shutdown()
	}()
	return nil
}

// Ready is nil once the initial state is recorded.
func (o *Observer) Ready() error {
	if !o.synced.Load() {
		return fmt.Errorf("endpointslices of %s not synced yet", o.namespace)
	}
	return nil
}

// sync recomputes one service's ready endpoints and records the difference.
func (o *Observer) sync(lister listersv1.EndpointSliceLister, name string, initial bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	svc := o.services[name]
	if svc == nil {
		return
	}
	// Time the change as soon as the informer delivered it.
	now := o.now()
	slices, err := lister.EndpointSlices(o.namespace).List(labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: name}))
	if err != nil {
		o.log.Error("list endpointslices", "service", svc.key, "err", err)
		return
	}
	next := ReadyEndpoints(slices, o.portName)
	o.apply(svc, next, now, initial)
}

// apply records the difference between svc's ready set and next.
func (o *Observer) apply(svc *service, next map[netip.AddrPort]struct{}, now time.Time, initial bool) {
	changed := false
	for a := range next {
		if _, ok := svc.ready[a]; !ok {
			o.changes = append(o.changes, record.EndpointChange{Service: svc.key, Addr: a.String(), Ready: true, Time: now, Initial: initial})
			o.mChanges.WithLabelValues("ready").Inc()
			changed = true
		}
	}
	for a := range svc.ready {
		if _, ok := next[a]; !ok {
			o.changes = append(o.changes, record.EndpointChange{Service: svc.key, Addr: a.String(), Ready: false, Time: now, Initial: initial})
			o.mChanges.WithLabelValues("gone").Inc()
			changed = true
		}
	}
	if !changed {
		return
	}
	o.mReady.Add(float64(len(next) - len(svc.ready)))
	svc.ready = next
	svc.lastChange = now
	if p := svc.pend; p != nil && len(next) == p.Target {
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
			continue
		}
		for _, ep := range es.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			for _, a := range ep.Addresses {
				ip, err := netip.ParseAddr(a)
				if err != nil {
					continue
				}
				out[netip.AddrPortFrom(ip, uint16(port))] = struct{}{}
			}
		}
	}
	return out
}
