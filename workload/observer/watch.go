package observer

import (
	"context"
	"fmt"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
)

// Start lists the EndpointSlices (those endpoints are marked Initial) and
// then watches them until ctx ends. It returns once the initial state is
// recorded.
func (o *Observer) Start(ctx context.Context, cs kubernetes.Interface) error {
	api := cs.DiscoveryV1().EndpointSlices(o.namespace)
	rv, err := o.relist(ctx, api, true)
	if err != nil {
		return err
	}
	o.synced.Store(true)
	go o.watch(ctx, api, rv)
	return nil
}

type sliceAPI interface {
	List(ctx context.Context, opts metav1.ListOptions) (*discoveryv1.EndpointSliceList, error)
	Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)
}

// relist reads every slice and diffs it against the recorded state (all of
// it Initial on the first call); it returns the list's resource version.
func (o *Observer) relist(ctx context.Context, api sliceAPI, initial bool) (string, error) {
	list, err := api.List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", fmt.Errorf("list endpointslices in %s: %w", o.namespace, err)
	}
	now := o.now()
	o.mu.Lock()
	defer o.mu.Unlock()
	seen := map[string]bool{}
	for i := range list.Items {
		es := &list.Items[i]
		seen[es.Name] = true
		o.handleLocked(es, now, initial)
	}
	for name := range o.slices {
		if !seen[name] {
			o.deleteLocked(name, now)
		}
	}
	return list.ResourceVersion, nil
}

// watch follows the slices from rv. RetryWatcher resumes a broken watch
// from the last resource version; when that version is gone (410) the
// observer lists again and records the difference.
func (o *Observer) watch(ctx context.Context, api sliceAPI, rv string) {
	lw := &cache.ListWatch{WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
		return api.Watch(ctx, opts)
	}}
	for ctx.Err() == nil {
		w, err := watchtools.NewRetryWatcherWithContext(ctx, rv, lw)
		if err != nil {
			o.log.Error("watch endpointslices", "namespace", o.namespace, "err", err)
			return
		}
		o.follow(ctx, w)
		w.Stop()
		if ctx.Err() != nil {
			return
		}
		// The watch ended with an error (its resource version expired):
		// list again, recording what changed meanwhile.
		for ctx.Err() == nil {
			o.relists.Add(1)
			if rv, err = o.relist(ctx, api, false); err == nil {
				break
			}
			o.log.Warn("relist endpointslices", "namespace", o.namespace, "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

// follow handles w's events until it ends (the caller then lists again).
func (o *Observer) follow(ctx context.Context, w watch.Interface) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.ResultChan():
			if !ok {
				return
			}
			// The reference time: as the event leaves the watch.
			now := o.now()
			switch ev.Type {
			case watch.Added, watch.Modified, watch.Deleted:
				es, ok := ev.Object.(*discoveryv1.EndpointSlice)
				if !ok {
					continue
				}
				o.events.Add(1)
				o.mu.Lock()
				if es.Name == CanaryName {
					o.canarySeenLocked(es, now)
				} else if ev.Type == watch.Deleted {
					o.deleteLocked(es.Name, now)
				} else {
					o.handleLocked(es, now, false)
				}
				o.mu.Unlock()
			case watch.Error:
				o.log.Info("endpointslice watch ended; listing again", "namespace", o.namespace, "err", apierrors.FromObject(ev.Object))
				return
			}
		}
	}
}
