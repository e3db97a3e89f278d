package observer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
)

// Where a control plane runs as host processes (the local provider),
// the observer can follow etcd itself instead of the API server's watch.
// A change then reaches the observer as etcd commits it, before the API
// server has decoded it, cached it and fanned it out to its watchers: the
// destination controller gets every change through that longer path, so
// it cannot see a change before the observer does, however the machine's
// two cores are shared out among the watchers (docs/latency.md). The
// API server stores EndpointSlices and Pods in protobuf under
// <prefix>/endpointslices/<namespace>/<name> and <prefix>/pods/<ns>/<name>.

// EtcdSource is how to read the namespace's objects from etcd.
type EtcdSource struct {
	Client *clientv3.Client
	// Pods, when set, carries the pod watch on a connection of its own:
	// the namespace's pod writes are most of its etcd traffic, and on a
	// shared stream the slice events would queue behind them.
	Pods *clientv3.Client
	// Prefix is the API server's --etcd-prefix ("/registry").
	Prefix string
}

func (s EtcdSource) slicesKey(ns string) string { return s.Prefix + "/endpointslices/" + ns + "/" }
func (s EtcdSource) podsKey(ns string) string   { return s.Prefix + "/pods/" + ns + "/" }

// EtcdTLS names an etcd endpoint and the files of a client identity.
type EtcdTLS struct {
	Endpoint                  string
	CAFile, CertFile, KeyFile string
}

// DialEtcd connects to the etcd e names; close releases the client.
func DialEtcd(e EtcdTLS, prefix string) (src EtcdSource, close func(), err error) {
	cert, err := tls.LoadX509KeyPair(e.CertFile, e.KeyFile)
	if err != nil {
		return EtcdSource{}, nil, fmt.Errorf("etcd client certificate: %w", err)
	}
	caPEM, err := os.ReadFile(e.CAFile)
	if err != nil {
		return EtcdSource{}, nil, fmt.Errorf("etcd CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return EtcdSource{}, nil, fmt.Errorf("etcd CA %s holds no PEM certificate", e.CAFile)
	}
	dial := func() (*clientv3.Client, error) {
		cli, err := clientv3.New(clientv3.Config{
			Endpoints:   []string{e.Endpoint},
			TLS:         &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12},
			DialTimeout: 10 * time.Second,
			// The client's own zap logger would write to stderr beside slog.
			Logger: zap.NewNop(),
		})
		if err != nil {
			return nil, fmt.Errorf("connect to etcd %s: %w", e.Endpoint, err)
		}
		return cli, nil
	}
	slices, err := dial()
	if err != nil {
		return EtcdSource{}, nil, err
	}
	pods, err := dial()
	if err != nil {
		_ = slices.Close()
		return EtcdSource{}, nil, err
	}
	return EtcdSource{Client: slices, Pods: pods, Prefix: prefix}, func() { _ = slices.Close(); _ = pods.Close() }, nil
}

// StartEtcd reads the namespace's EndpointSlices from etcd (those
// endpoints are marked Initial), then follows them and the deletion of
// the namespace's pods until ctx ends. It returns once the initial state
// is recorded. With cs, it also watches the canary alone through the API
// server (APIDelivery): the API server's own delay, which update
// latencies measured from etcd include.
func (o *Observer) StartEtcd(ctx context.Context, src EtcdSource, cs kubernetes.Interface) error {
	rev, err := o.etcdRelist(ctx, src, true)
	if err != nil {
		return err
	}
	if cs != nil {
		o.mu.Lock()
		o.apiCanary = newDelays()
		o.mu.Unlock()
		go o.watchCanaryAPI(ctx, cs.DiscoveryV1().EndpointSlices(o.namespace))
	}
	o.synced.Store(true)
	go o.etcdWatch(ctx, src, rev)
	return nil
}

// watchCanaryAPI follows the canary slice alone on the API server's watch
// until ctx ends.
func (o *Observer) watchCanaryAPI(ctx context.Context, api sliceAPI) {
	sel := fields.OneTermEqualSelector("metadata.name", CanaryName).String()
	lw := &cache.ListWatch{WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
		opts.FieldSelector = sel
		return api.Watch(ctx, opts)
	}}
	for ctx.Err() == nil {
		list, err := api.List(ctx, metav1.ListOptions{FieldSelector: sel})
		if err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		w, err := watchtools.NewRetryWatcherWithContext(ctx, list.ResourceVersion, lw)
		if err != nil {
			o.log.Warn("watch the observer canary through the API server", "err", err)
			return
		}
		for ev := range w.ResultChan() {
			now := o.now()
			es, ok := ev.Object.(*discoveryv1.EndpointSlice)
			if !ok || ev.Type == watch.Deleted {
				continue
			}
			o.mu.Lock()
			o.apiCanary.seen(es.Annotations[canaryGenAnnot], now)
			o.mu.Unlock()
		}
		w.Stop()
	}
}

// etcdRelist reads every slice and diffs it against the recorded state;
// it returns the revision read.
func (o *Observer) etcdRelist(ctx context.Context, src EtcdSource, initial bool) (int64, error) {
	resp, err := src.Client.Get(ctx, src.slicesKey(o.namespace), clientv3.WithPrefix())
	if err != nil {
		return 0, fmt.Errorf("read endpointslices of %s from etcd: %w", o.namespace, err)
	}
	now := o.now()
	o.mu.Lock()
	defer o.mu.Unlock()
	seen := map[string]bool{}
	for _, kv := range resp.Kvs {
		es, err := decodeSlice(kv.Value)
		if err != nil {
			o.log.Warn("decode endpointslice from etcd", "key", string(kv.Key), "err", err)
			continue
		}
		seen[es.Name] = true
		if es.Name != CanaryName {
			o.handleLocked(es, now, initial)
		}
	}
	for name := range o.slices {
		if !seen[name] {
			o.deleteLocked(name, now)
		}
	}
	return resp.Header.Revision, nil
}

// etcdWatch follows slices and pod deletions from rev+1. When etcd has
// compacted past the revision (or the watch fails), it reads the slices
// again and records the difference, as the API watch path does.
func (o *Observer) etcdWatch(ctx context.Context, src EtcdSource, rev int64) {
	for ctx.Err() == nil {
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		slices := src.Client.Watch(wctx, src.slicesKey(o.namespace), clientv3.WithPrefix(), clientv3.WithRev(rev+1))
		// Only deletions of pods: their puts (status, scheduling) are
		// most of the namespace's writes and say nothing the slices do not.
		podsCli := src.Pods
		if podsCli == nil {
			podsCli = src.Client
		}
		pods := podsCli.Watch(wctx, src.podsKey(o.namespace), clientv3.WithPrefix(), clientv3.WithRev(rev+1), clientv3.WithFilterPut())
		err := o.etcdFollow(ctx, src, slices, pods)
		cancel()
		if ctx.Err() != nil {
			return
		}
		o.log.Info("etcd watch ended; reading the slices again", "namespace", o.namespace, "err", err)
		for ctx.Err() == nil {
			o.relists.Add(1)
			var lerr error
			if rev, lerr = o.etcdRelist(ctx, src, false); lerr == nil {
				break
			}
			o.log.Warn("read endpointslices from etcd", "namespace", o.namespace, "err", lerr)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

// etcdFollow handles both watches until one ends; it returns why.
func (o *Observer) etcdFollow(ctx context.Context, src EtcdSource, slices, pods clientv3.WatchChan) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case wr, ok := <-slices:
			// The reference time: as the response leaves the watch.
			now := o.now()
			if !ok {
				return fmt.Errorf("slice watch closed")
			}
			if err := wr.Err(); err != nil {
				return err
			}
			o.mu.Lock()
			for _, ev := range wr.Events {
				o.events.Add(1)
				name := strings.TrimPrefix(string(ev.Kv.Key), src.slicesKey(o.namespace))
				if ev.Type == clientv3.EventTypeDelete {
					o.deleteLocked(name, now)
					continue
				}
				es, err := decodeSlice(ev.Kv.Value)
				if err != nil {
					o.log.Warn("decode endpointslice from etcd", "key", string(ev.Kv.Key), "err", err)
					continue
				}
				if es.Name == CanaryName {
					o.canarySeenLocked(es, now)
				} else {
					o.handleLocked(es, now, false)
				}
			}
			o.mu.Unlock()
		case wr, ok := <-pods:
			now := o.now()
			if !ok {
				return fmt.Errorf("pod watch closed")
			}
			if err := wr.Err(); err != nil {
				return err
			}
			o.mu.Lock()
			for _, ev := range wr.Events {
				if ev.Type == clientv3.EventTypeDelete {
					o.podDeletedLocked(strings.TrimPrefix(string(ev.Kv.Key), src.podsKey(o.namespace)), now)
				}
			}
			o.mu.Unlock()
		}
	}
}

// decodeSlice reads an EndpointSlice as the API server stored it.
func decodeSlice(b []byte) (*discoveryv1.EndpointSlice, error) {
	obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(b, nil, nil)
	if err != nil {
		return nil, err
	}
	es, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return nil, fmt.Errorf("stored object is a %s, not an EndpointSlice", kindOf(obj))
	}
	return es, nil
}

func kindOf(obj runtime.Object) string {
	if k := obj.GetObjectKind().GroupVersionKind().Kind; k != "" {
		return k
	}
	return fmt.Sprintf("%T", obj)
}
