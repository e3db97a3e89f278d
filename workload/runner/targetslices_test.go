package runner

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

// TestTargetsReadySlices: the targets are ready when their Deployments
// are and their EndpointSlices list every replica's address; two pods
// sharing an IP (a stream can hold only one) keep them not ready, and the
// error says so.
func TestTargetsReadySlices(t *testing.T) {
	tg := &Targets{Namespace: "ns", Release: "r", Count: 1, Replicas: 3}
	name := tg.Names()[0]
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: labelsOf(t, tg.Selector())},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](3)}, Status: appsv1.DeploymentStatus{ReadyReplicas: 3}}
	slice := func(addrs ...string) *discoveryv1.EndpointSlice {
		es := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: name + "-abc", Namespace: "ns",
			Labels: map[string]string{discoveryv1.LabelServiceName: name}}, AddressType: discoveryv1.AddressTypeIPv4}
		for _, a := range addrs {
			es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{a}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}})
		}
		return es
	}
	for _, tc := range []struct {
		name    string
		slice   *discoveryv1.EndpointSlice
		wantErr string
	}{
		{"every replica listed", slice("10.0.0.1", "10.0.0.2", "10.0.0.3"), ""},
		{"two pods on one IP", slice("10.0.0.1", "10.0.0.2", "10.0.0.2"), "list 2 of 3 ready endpoints, and 1 more ready entries repeat an address"},
		{"a replica not listed yet", slice("10.0.0.1", "10.0.0.2"), "list 2 of 3 ready endpoints"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := fake.NewClientset(dep, tc.slice)
			ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
			defer cancel()
			err := tg.Ready(ctx, cs, nil)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("Ready = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func labelsOf(t *testing.T, selector string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, kv := range strings.Split(selector, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			t.Fatalf("selector %q is not k=v,...", selector)
		}
		out[k] = v
	}
	return out
}
