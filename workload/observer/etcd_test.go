package observer_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/dstload/dstload/internal/testutil"
	"github.com/dstload/dstload/provision/fakenode"
	"github.com/dstload/dstload/provision/local"
	"github.com/dstload/dstload/provision/local/localtest"
	"github.com/dstload/dstload/workload/observer"
	"github.com/dstload/dstload/workload/record"
)

// TestEtcdSource follows a real local cluster's etcd: the observer sees
// slice changes as the API server's own watch does, and a pod deleted
// before its slice changed marks the removal with the deletion's time.
// The slices are written by hand (their own managed-by, so the
// EndpointSlice controller leaves them alone) to order the deletion and
// the slice change deterministically.
func TestEtcdSource(t *testing.T) {
	cl := localtest.Start(t, localtest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const ns = "default"
	cs := cl.Clientset

	acc, err := local.EtcdAccessOf(cl.Dir, cl.State)
	if err != nil {
		t.Fatal(err)
	}
	src, closeEtcd, err := observer.DialEtcd(observer.EtcdTLS{Endpoint: acc.Endpoint, CAFile: acc.CAFile, CertFile: acc.CertFile, KeyFile: acc.KeyFile}, acc.Prefix)
	if err != nil {
		t.Fatal(err)
	}
	defer closeEtcd()

	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p1", Namespace: ns},
		Spec: corev1.PodSpec{NodeSelector: fakenode.Selector(), Tolerations: []corev1.Toleration{fakenode.Toleration()},
			Containers: []corev1.Container{{Name: "c", Image: "example.invalid/c"}}},
	}
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	es := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "a-1", Namespace: ns, Labels: map[string]string{
			discoveryv1.LabelServiceName: "a", discoveryv1.LabelManagedBy: "dstload-test"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080)}},
		Endpoints: []discoveryv1.Endpoint{
			{Addresses: []string{"10.200.0.1"}, TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: "p1"}},
			{Addresses: []string{"10.200.0.2"}, TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: "p2"}},
		},
	}
	if _, err := cs.DiscoveryV1().EndpointSlices(ns).Create(ctx, es, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	viaEtcd := observer.New(testutil.Log(t), prometheus.NewRegistry(), ns, []string{"a"}, "http")
	if err := viaEtcd.StartEtcd(ctx, src, cs); err != nil {
		t.Fatal(err)
	}
	viaAPI := observer.New(testutil.Log(t), prometheus.NewRegistry(), ns, []string{"a"}, "http")
	if err := viaAPI.Start(ctx, cs); err != nil {
		t.Fatal(err)
	}
	if got := viaEtcd.ReadyEndpoints(); got != 2 {
		t.Fatalf("etcd observer starts with %d ready endpoints, want 2", got)
	}

	// A third endpoint, then p1 deleted at once (no grace), then the
	// slice drops p1's endpoint.
	es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{"10.200.0.3"}})
	if es, err = cs.DiscoveryV1().EndpointSlices(ns).Update(ctx, es, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cs.CoreV1().Pods(ns).Delete(ctx, "p1", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	deleted := time.Now()
	time.Sleep(200 * time.Millisecond)
	es.Endpoints = es.Endpoints[1:]
	if _, err := cs.DiscoveryV1().EndpointSlices(ns).Update(ctx, es, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	removed := time.Now()

	changes := func(o *observer.Observer) []record.EndpointChange {
		var out []record.EndpointChange
		for _, c := range o.Records().EndpointChanges {
			if !c.Initial {
				out = append(out, c)
			}
		}
		return out
	}
	testutil.WaitFor(t, 30*time.Second, "both observers see the add and the removal", func() bool {
		return len(changes(viaEtcd)) == 2 && len(changes(viaAPI)) == 2
	})
	e, a := changes(viaEtcd), changes(viaAPI)
	for i := range e {
		if e[i].Addr != a[i].Addr || e[i].Ready != a[i].Ready {
			t.Errorf("change %d: etcd %s ready=%v, API watch %s ready=%v", i, e[i].Addr, e[i].Ready, a[i].Addr, a[i].Ready)
		}
	}
	gone := e[1]
	if gone.Addr != "10.200.0.1:8080" || gone.Ready {
		t.Fatalf("second change = %+v, want 10.200.0.1:8080 gone", gone)
	}
	switch {
	case gone.PodGone.IsZero():
		t.Errorf("removal of deleted pod p1's endpoint carries no pod deletion time: %+v", gone)
	case !gone.PodGone.Before(gone.Time):
		t.Errorf("pod deletion %s is not before the slice change %s", gone.PodGone, gone.Time)
	case gone.PodGone.Before(deleted.Add(-5*time.Second)) || gone.Time.After(removed.Add(5*time.Second)):
		t.Errorf("times %s / %s are far from the writes at %s / %s", gone.PodGone, gone.Time, deleted, removed)
	}
	if !a[1].PodGone.IsZero() {
		t.Errorf("the API watch observer does not follow pods, yet its removal has PodGone %s", a[1].PodGone)
	}
	// The etcd observer sees a change no later than the API server's own
	// watchers do, give or take scheduling on a busy machine.
	for i := range e {
		if d := e[i].Time.Sub(a[i].Time); d > 50*time.Millisecond {
			t.Errorf("change %d: etcd observer %s after the API watch observer", i, d)
		}
	}
}
