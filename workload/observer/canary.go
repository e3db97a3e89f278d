package observer

import (
	"context"
	"sort"
	"strconv"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// The canary measures the observer's own lag on the very watch that times
// every endpoint change: it writes a small EndpointSlice of no Service
// (its own managed-by label, so the EndpointSlice controller leaves it
// alone) and times how long after the API server answered the write the
// watch delivered it. Every watcher of the API server, the destination
// controller included, gets the change once it is committed, which is
// before that answer; so the delay is how much later than the commit the
// observer can see a change. The write's own duration (which on a
// saturated machine reaches seconds) is not part of it.
const (
	CanaryName      = "dstload-observer-canary"
	canaryGenAnnot  = "dstload.io/canary-generation"
	canaryManagedBy = "dstload-observer"
)

// RunCanary writes the canary every interval until ctx ends, then deletes
// it. It needs create, update and delete on EndpointSlices in the
// observed namespace.
func (o *Observer) RunCanary(ctx context.Context, cs kubernetes.Interface, interval time.Duration) {
	api := cs.DiscoveryV1().EndpointSlices(o.namespace)
	es := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: CanaryName, Labels: map[string]string{
			discoveryv1.LabelServiceName: CanaryName, discoveryv1.LabelManagedBy: canaryManagedBy}},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = api.Delete(dctx, CanaryName, metav1.DeleteOptions{})
	}()
	t := time.NewTicker(interval)
	defer t.Stop()
	warned := false
	for gen := 1; ; gen++ {
		g := strconv.Itoa(gen)
		es.Annotations = map[string]string{canaryGenAnnot: g}
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		cur, err := api.Update(wctx, es, metav1.UpdateOptions{})
		if apierrors.IsNotFound(err) {
			cur, err = api.Create(wctx, es, metav1.CreateOptions{})
		}
		cancel()
		if err == nil {
			o.canaryAnswered(g, o.now())
			es = cur.DeepCopy()
		} else if ctx.Err() == nil {
			// Said once: the report shows the canary's absence.
			if !warned {
				o.log.Warn("observer canary write failed (said once; later writes go on)", "err", err)
				warned = true
			}
			es.ResourceVersion = ""
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// canaryAnswered notes when the API server answered write g; the
// watches may have delivered it already.
func (o *Observer) canaryAnswered(g string, at time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.canary.answered(g, at)
	if o.apiCanary != nil {
		o.apiCanary.answered(g, at)
	}
}

func (o *Observer) canarySeenLocked(es *discoveryv1.EndpointSlice, now time.Time) {
	o.canary.seen(es.Annotations[canaryGenAnnot], now)
}

// delays pairs each canary write's answer with its delivery on one watch.
type delays struct {
	answeredAt map[string]time.Time
	seenAt     map[string]time.Time
	lag        []float64 // seconds
}

func newDelays() *delays {
	return &delays{answeredAt: map[string]time.Time{}, seenAt: map[string]time.Time{}}
}

func (d *delays) answered(g string, at time.Time) {
	if seen, ok := d.seenAt[g]; ok {
		delete(d.seenAt, g)
		d.lag = append(d.lag, max(seen.Sub(at), 0).Seconds())
		return
	}
	d.answeredAt[g] = at
}

func (d *delays) seen(g string, now time.Time) {
	if at, ok := d.answeredAt[g]; ok {
		delete(d.answeredAt, g)
		d.lag = append(d.lag, max(now.Sub(at), 0).Seconds())
		return
	}
	// Delivered before the answer: no lag; kept until the answer comes
	// (bounded: a write that never answers is dropped with the map).
	if len(d.seenAt) < 1000 {
		d.seenAt[g] = now
	}
}

func (d *delays) stats() CanaryStats {
	l := append([]float64(nil), d.lag...)
	if len(l) == 0 {
		return CanaryStats{}
	}
	sort.Float64s(l)
	return CanaryStats{Count: len(l), P50: l[(len(l)-1)/2], P99: l[min(len(l)-1, len(l)*99/100)], Max: l[len(l)-1]}
}

// CanaryStats summarises the canary watch delays (seconds).
type CanaryStats struct {
	Count         int
	P50, P99, Max float64
}

// Canary returns the delays of the observer's own source (its watch, or
// etcd) measured so far: the bound on its lateness.
func (o *Observer) Canary() CanaryStats {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.canary.stats()
}

// APIDelivery returns, when the observer follows etcd, how long after the
// API server answered a canary write its watch delivered it: the API
// server's part of every update latency measured from etcd (zero Count
// otherwise).
func (o *Observer) APIDelivery() CanaryStats {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.apiCanary == nil {
		return CanaryStats{}
	}
	return o.apiCanary.stats()
}
