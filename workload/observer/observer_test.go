package observer

import (
	"context"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/kubernetes/scheme"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"github.com/dstload/dstload/internal/testutil"
	"github.com/dstload/dstload/workload/record"
)

func set(addrs ...string) map[netip.AddrPort]struct{} {
	m := map[netip.AddrPort]struct{}{}
	for _, a := range addrs {
		m[netip.MustParseAddrPort(a)] = struct{}{}
	}
	return m
}

// epSlice is an EndpointSlice of service svc with ready addresses on
// port 80.
func epSlice(name, svc string, addrs ...string) *discoveryv1.EndpointSlice {
	es := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		Ports:      []discoveryv1.EndpointPort{{Port: ptr.To[int32](80)}},
	}
	for _, a := range addrs {
		es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{strings.TrimSuffix(a, ":80")}})
	}
	return es
}

// TestConvergence drives the observer's bookkeeping directly (the watch
// itself is TestWatch below and workload/e2e on a real cluster).
func TestConvergence(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	o := New(testutil.Discard(), prometheus.NewRegistry(), "ns", []string{"a"}, "")
	apply := func(ms int, initial bool, es *discoveryv1.EndpointSlice) {
		o.mu.Lock()
		o.handleLocked(es, at(ms), initial)
		o.mu.Unlock()
	}
	apply(0, true, epSlice("a-1", "a", "10.0.0.1"))
	o.Expect(record.ScaleEvent{Service: "ns/a", Seq: 1, Target: 3, Time: at(10)})
	apply(100, false, epSlice("a-1", "a", "10.0.0.1", "10.0.0.2"))
	// A second slice: the endpoint it shares with the first stays ready.
	apply(200, false, epSlice("a-2", "a", "10.0.0.2", "10.0.0.3"))
	// An event that is never reached, then one whose target already holds.
	o.Expect(record.ScaleEvent{Service: "ns/a", Seq: 2, Target: 1, Time: at(300)})
	apply(400, false, epSlice("a-1", "a", "10.0.0.1"))
	apply(410, false, epSlice("a-2", "a", "10.0.0.3"))
	// A slice of a service nobody observes changes nothing.
	apply(420, false, epSlice("b-1", "b", "10.0.0.9"))
	o.Expect(record.ScaleEvent{Service: "ns/a", Seq: 3, Target: 2, Time: at(500)})
	o.Expect(record.ScaleEvent{Service: "ns/a", Seq: 4, Target: 0, Time: at(600)})
	o.mu.Lock()
	o.deleteLocked("a-1", at(700))
	o.deleteLocked("a-2", at(710))
	o.mu.Unlock()
	o.Expect(record.ScaleEvent{Service: "ns/a", Seq: 5, Target: 5, Time: at(800)})
	o.Finish()

	r := o.Records()
	wantKube := []record.KubeConvergence{
		{Service: "ns/a", Seq: 1, Target: 3, Reached: true, Time: at(200)},
		{Service: "ns/a", Seq: 2, Target: 1},
		{Service: "ns/a", Seq: 3, Target: 2, Reached: true, Time: at(500)},
		{Service: "ns/a", Seq: 4, Target: 0, Reached: true, Time: at(710)},
		{Service: "ns/a", Seq: 5, Target: 5},
	}
	if !reflect.DeepEqual(r.KubeConvergence, wantKube) {
		t.Errorf("kube convergence:\n got %+v\nwant %+v", r.KubeConvergence, wantKube)
	}
	wantChanges := []record.EndpointChange{
		{Service: "ns/a", Addr: "10.0.0.1:80", Ready: true, Time: at(0), Initial: true},
		{Service: "ns/a", Addr: "10.0.0.2:80", Ready: true, Time: at(100)},
		{Service: "ns/a", Addr: "10.0.0.3:80", Ready: true, Time: at(200)},
		{Service: "ns/a", Addr: "10.0.0.2:80", Ready: false, Time: at(410)},
		{Service: "ns/a", Addr: "10.0.0.1:80", Ready: false, Time: at(700)},
		{Service: "ns/a", Addr: "10.0.0.3:80", Ready: false, Time: at(710)},
	}
	if !reflect.DeepEqual(r.EndpointChanges, wantChanges) {
		t.Errorf("changes:\n got %+v\nwant %+v", r.EndpointChanges, wantChanges)
	}
}

// TestWatch runs the observer against client-go's fake clientset: the
// initial list is Initial, watch events are changes, and a deleted slice
// takes its endpoints with it.
func TestWatch(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cs := fake.NewClientset(epSlice("a-1", "a", "10.0.0.1"))
	// The fake replays nothing from a resource version (a real API
	// server does): write only once the watch is open.
	watching := make(chan struct{})
	opened := sync.OnceFunc(func() { close(watching) })
	cs.PrependWatchReactor("endpointslices", func(k8stesting.Action) (bool, watch.Interface, error) {
		opened()
		return false, nil, nil
	})
	reg := prometheus.NewRegistry()
	o := New(testutil.Discard(), reg, "ns", []string{"a"}, "")
	if err := o.Start(ctx, cs); err != nil {
		t.Fatal(err)
	}
	<-watching
	time.Sleep(50 * time.Millisecond) // the reactor runs just before the fake's watcher is registered
	api := cs.DiscoveryV1().EndpointSlices("ns")
	// The fake sets no resource versions; RetryWatcher needs them.
	withRV := func(es *discoveryv1.EndpointSlice, rv string) *discoveryv1.EndpointSlice {
		es.ResourceVersion = rv
		return es
	}
	if _, err := api.Update(ctx, withRV(epSlice("a-1", "a", "10.0.0.1", "10.0.0.2"), "2"), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := api.Create(ctx, withRV(epSlice("a-2", "a", "10.0.0.3"), "3"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := api.Delete(ctx, "a-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	want := []string{"+10.0.0.1:80 initial", "+10.0.0.2:80", "+10.0.0.3:80", "-10.0.0.1:80", "-10.0.0.2:80"}
	deadline := time.Now().Add(10 * time.Second)
	var got []string
	for time.Now().Before(deadline) {
		got = got[:0]
		for _, c := range o.Records().EndpointChanges {
			s := map[bool]string{true: "+", false: "-"}[c.Ready] + c.Addr
			if c.Initial {
				s += " initial"
			}
			got = append(got, s)
		}
		if len(got) >= len(want) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The two removals of a-1 come in map order.
	if len(got) == len(want) && got[3] > got[4] {
		got[3], got[4] = got[4], got[3]
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("changes %q, want %q", got, want)
	}
	if st := o.Stats(); st.Events != 3 {
		t.Errorf("watch events %d, want 3", st.Events)
	}
}

// BenchmarkHandleSlice is the observer's own cost per EndpointSlice event:
// a 100-endpoint slice gaining or losing 10 endpoints, as in a scale wave.
func BenchmarkHandleSlice(b *testing.B) {
	o := New(testutil.Discard(), prometheus.NewRegistry(), "ns", []string{"a"}, "")
	var full, part []string
	for i := range 100 {
		full = append(full, fmt.Sprintf("10.0.%d.%d", i/250, i%250+1))
	}
	part = full[:90]
	slices := []*discoveryv1.EndpointSlice{epSlice("a-1", "a", full...), epSlice("a-1", "a", part...)}
	now := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		o.mu.Lock()
		o.handleLocked(slices[i%2], now, false)
		o.mu.Unlock()
		if len(o.changes) > 1<<16 {
			o.changes = o.changes[:0]
		}
	}
}

func TestReadyEndpoints(t *testing.T) {
	slice := func(ports []discoveryv1.EndpointPort, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
		return &discoveryv1.EndpointSlice{Ports: ports, Endpoints: eps}
	}
	ep := func(ip string, ready *bool) discoveryv1.Endpoint {
		return discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: ready}}
	}
	two := []discoveryv1.EndpointPort{{Name: ptr.To("admin"), Port: ptr.To[int32](9990)}, {Name: ptr.To("http"), Port: ptr.To[int32](8080)}}
	tests := []struct {
		name     string
		slices   []*discoveryv1.EndpointSlice
		portName string
		want     map[netip.AddrPort]struct{}
	}{
		{"ready true or unset counts, false does not", []*discoveryv1.EndpointSlice{slice(two, ep("10.0.0.1", ptr.To(true)), ep("10.0.0.2", nil), ep("10.0.0.3", ptr.To(false)))},
			"http", set("10.0.0.1:8080", "10.0.0.2:8080")},
		{"first port without a name", []*discoveryv1.EndpointSlice{slice(two, ep("10.0.0.1", nil))}, "", set("10.0.0.1:9990")},
		{"slices without the port are skipped", []*discoveryv1.EndpointSlice{slice(two[:1], ep("10.0.0.1", nil)), slice(two[1:], ep("10.0.0.2", nil))},
			"http", set("10.0.0.2:8080")},
		{"IPv6", []*discoveryv1.EndpointSlice{slice(two[1:], ep("fd00::1", nil))}, "http", set("[fd00::1]:8080")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ReadyEndpoints(tt.slices, tt.portName); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestPodGone: a removal carries its pod's deletion when the pod was
// deleted before the slice dropped the endpoint, and only then.
func TestPodGone(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	withPods := func(es *discoveryv1.EndpointSlice, pods ...string) *discoveryv1.EndpointSlice {
		for i := range es.Endpoints {
			es.Endpoints[i].TargetRef = &corev1.ObjectReference{Kind: "Pod", Name: pods[i]}
		}
		return es
	}
	tests := []struct {
		name      string
		deletedMs int // when pod p1 is seen deleted (0: never)
		want      time.Time
	}{
		{"deleted before the slice changed", 150, at(150)},
		{"deleted after the slice changed", 250, time.Time{}},
		{"never deleted", 0, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := New(testutil.Discard(), prometheus.NewRegistry(), "ns", []string{"a"}, "")
			o.mu.Lock()
			o.handleLocked(withPods(epSlice("a-1", "a", "10.0.0.1", "10.0.0.2"), "p1", "p2"), at(100), false)
			if tt.deletedMs > 0 && tt.deletedMs < 200 {
				o.podDeletedLocked("p1", at(tt.deletedMs))
			}
			// A slice event that still lists p1: a moment the controller
			// can drop it.
			o.handleLocked(withPods(epSlice("a-1", "a", "10.0.0.1", "10.0.0.2", "10.0.0.3"), "p1", "p2", "p3"), at(170), false)
			o.handleLocked(withPods(epSlice("a-1", "a", "10.0.0.2", "10.0.0.3"), "p2", "p3"), at(200), false)
			if tt.deletedMs >= 200 {
				o.podDeletedLocked("p1", at(tt.deletedMs))
			}
			o.mu.Unlock()
			cs := o.Records().EndpointChanges
			last := cs[len(cs)-1]
			if last.Addr != "10.0.0.1:80" || last.Ready || !last.Time.Equal(at(200)) {
				t.Fatalf("last change = %+v, want 10.0.0.1:80 gone at 200ms", last)
			}
			if !last.PodGone.Equal(tt.want) {
				t.Errorf("PodGone = %v, want %v", last.PodGone, tt.want)
			}
			wantTriggers := 0
			if !tt.want.IsZero() {
				wantTriggers = 1
			}
			if len(last.Triggers) != wantTriggers || wantTriggers == 1 && !last.Triggers[0].Equal(at(170)) {
				t.Errorf("Triggers = %v, want %d at 170ms", last.Triggers, wantTriggers)
			}
			// Nothing is kept of p1 once no slice lists it: the
			// bookkeeping stays the size of the listed pods.
			if len(o.podGone) != 0 || !reflect.DeepEqual(o.listed, map[string]int{"p2": 1, "p3": 1}) {
				t.Errorf("kept deletions %v, listed pods %v; want none and p2, p3", o.podGone, o.listed)
			}
		})
	}
}

// BenchmarkDecodeSlice is the other half of an etcd event's cost: decoding
// a 100-endpoint slice (with pods named) as the API server stores it.
func BenchmarkDecodeSlice(b *testing.B) {
	var addrs []string
	for i := range 100 {
		addrs = append(addrs, fmt.Sprintf("10.0.%d.%d", i/250, i%250+1))
	}
	es := epSlice("a-1", "a", addrs...)
	for i := range es.Endpoints {
		es.Endpoints[i].TargetRef = &corev1.ObjectReference{Kind: "Pod", Namespace: "ns", Name: fmt.Sprintf("a-5d4f597786-%05d", i)}
	}
	info, ok := runtime.SerializerInfoForMediaType(scheme.Codecs.SupportedMediaTypes(), runtime.ContentTypeProtobuf)
	if !ok {
		b.Fatal("no protobuf serializer")
	}
	raw, err := runtime.Encode(scheme.Codecs.EncoderForVersion(info.Serializer, discoveryv1.SchemeGroupVersion), es)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := decodeSlice(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// TestListedPods: an address taken over by a new pod (KWOK reuses IPs
// quickly) moves the listing to the new pod, the old pod's later deletion
// is not kept, and a deleted slice lists nothing.
func TestListedPods(t *testing.T) {
	o := New(testutil.Discard(), prometheus.NewRegistry(), "ns", []string{"a"}, "")
	at := time.Unix(0, 0)
	withPod := func(pod string) *discoveryv1.EndpointSlice {
		es := epSlice("a-1", "a", "10.0.0.1")
		es.Endpoints[0].TargetRef = &corev1.ObjectReference{Kind: "Pod", Name: pod}
		return es
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.handleLocked(withPod("p1"), at, false)
	o.handleLocked(withPod("p2"), at, false)
	o.podDeletedLocked("p1", at)
	if len(o.podGone) != 0 || !reflect.DeepEqual(o.listed, map[string]int{"p2": 1}) {
		t.Fatalf("after the address moved to p2: kept deletions %v, listed %v; want none and p2", o.podGone, o.listed)
	}
	o.podDeletedLocked("p2", at)
	if _, ok := o.podGone["p2"]; !ok {
		t.Fatalf("deletion of listed p2 not kept: %v", o.podGone)
	}
	o.deleteLocked("a-1", at)
	if len(o.podGone) != 0 || len(o.listed) != 0 {
		t.Errorf("after the slice is deleted: kept deletions %v, listed %v; want none", o.podGone, o.listed)
	}
	// A pod listed under a new address in the same event keeps its
	// deletion: the new listing counts before the old one goes.
	o.handleLocked(withPod("p3"), at, false)
	o.podDeletedLocked("p3", at)
	moved := epSlice("a-1", "a", "10.0.0.9")
	moved.Endpoints[0].TargetRef = &corev1.ObjectReference{Kind: "Pod", Name: "p3"}
	o.handleLocked(moved, at, false)
	if _, ok := o.podGone["p3"]; !ok || o.listed["p3"] != 1 {
		t.Errorf("after p3 moved address: kept deletions %v, listed %v; want p3 in both", o.podGone, o.listed)
	}
}
