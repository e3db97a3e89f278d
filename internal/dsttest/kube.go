package dsttest

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// Watch feeds s from the cluster's Services and EndpointSlices in namespace
// ("" for all) until ctx ends. It returns once the informers have synced.
// Like Linkerd, an endpoint counts when its Ready condition is true or
// unset, and a service port maps to the EndpointSlice port of the same name.
func Watch(ctx context.Context, log *slog.Logger, cs kubernetes.Interface, namespace string, s *Server) error {
	f := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace(namespace))
	svcInf := f.Core().V1().Services()
	sliceInf := f.Discovery().V1().EndpointSlices()

	// One service's state is read from both listers and written in one
	// step: the two informers call their handlers concurrently, and an
	// unserialized service handler that read no slices could otherwise
	// overwrite what the slice handler had just set.
	var mu sync.Mutex
	resync := func(ns, name string) {
		mu.Lock()
		defer mu.Unlock()
		key := ns + "/" + name
		svc, err := svcInf.Lister().Services(ns).Get(name)
		if err != nil {
			s.SetService(key, false)
			return
		}
		slices, err := sliceInf.Lister().EndpointSlices(ns).List(labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: name}))
		if err != nil {
			log.Error("list endpointslices", "service", key, "err", err)
			return
		}
		for _, sp := range svc.Spec.Ports {
			eps := readyEndpoints(sp, slices)
			log.Debug("service synced", "service", key, "port", sp.Port, "slices", len(slices), "ready", len(eps))
			s.SetEndpoints(key, uint32(sp.Port), eps)
		}
		s.SetService(key, true)
	}
	onSvc := func(obj any) {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		if svc, ok := obj.(*corev1.Service); ok {
			resync(svc.Namespace, svc.Name)
		}
	}
	onSlice := func(obj any) {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		if es, ok := obj.(*discoveryv1.EndpointSlice); ok {
			if name := es.Labels[discoveryv1.LabelServiceName]; name != "" {
				resync(es.Namespace, name)
			}
		}
	}
	for _, reg := range []struct {
		inf cache.SharedIndexInformer
		h   func(any)
	}{{svcInf.Informer(), onSvc}, {sliceInf.Informer(), onSlice}} {
		h := reg.h
		if _, err := reg.inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    h,
			UpdateFunc: func(_, n any) { h(n) },
			DeleteFunc: h,
		}); err != nil {
			return fmt.Errorf("add event handler: %w", err)
		}
	}
	f.Start(ctx.Done())
	for typ, ok := range f.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("sync %v informer: %w", typ, context.Cause(ctx))
		}
	}
	go func() {
		<-ctx.Done()
		f.Shutdown()
	}()
	return nil
}

func readyEndpoints(sp corev1.ServicePort, slices []*discoveryv1.EndpointSlice) []netip.AddrPort {
	var out []netip.AddrPort
	for _, es := range slices {
		var port int32 = -1
		for _, p := range es.Ports {
			if p.Port != nil && p.Name != nil && *p.Name == sp.Name {
				port = *p.Port
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
				out = append(out, netip.AddrPortFrom(ip, uint16(port)))
			}
		}
	}
	return out
}
