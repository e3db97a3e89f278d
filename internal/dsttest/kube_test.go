package dsttest

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/dstload/dstload/internal/testutil"
)

// TestWatchMapsSlicesToServicePorts checks the mapping rules on an
// in-memory clientset; the cluster behaviour itself is covered by
// workload/e2e against a real API server.
func TestWatchMapsSlicesToServicePorts(t *testing.T) {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "ns"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}, {Name: "admin", Port: 9990}}}}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "a-1", Namespace: "ns", Labels: map[string]string{discoveryv1.LabelServiceName: "a"}},
		Ports:      []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080)}, {Name: ptr.To("admin"), Port: ptr.To[int32](9999)}},
		Endpoints: []discoveryv1.Endpoint{
			{Addresses: []string{"10.0.0.1"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}},
			{Addresses: []string{"10.0.0.2"}},
			{Addresses: []string{"10.0.0.3"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(false)}},
		},
	}
	cs := fake.NewClientset(svc, slice)
	srv := NewServer(Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := Watch(ctx, testutil.Discard(), cs, "", srv); err != nil {
		t.Fatal(err)
	}
	want := map[uint32][]string{80: {"10.0.0.1:8080", "10.0.0.2:8080"}, 9990: {"10.0.0.1:9999", "10.0.0.2:9999"}}
	deadline := time.Now().Add(5 * time.Second)
	for port, addrs := range want {
		for {
			got := map[string]bool{}
			for _, e := range srv.Endpoints("ns/a", port) {
				got[e.String()] = true
			}
			ok := len(got) == len(addrs)
			for _, a := range addrs {
				ok = ok && got[a]
			}
			if ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("port %d: endpoints %v, want %v", port, got, addrs)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}
