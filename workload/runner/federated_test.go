package runner

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// TestFederatedLacks: churn waits until <svc>-federated lists the source's
// member and the target's, and says which cluster's it lacks (the one to
// touch).
func TestFederatedLacks(t *testing.T) {
	m := &Multicluster{Source: "src", Target: "tgt"}
	fed := func(ann map[string]string) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web-federated", Namespace: "ns", Annotations: ann}}
	}
	tests := []struct {
		name        string
		svc         *corev1.Service
		remote      bool
		lacks, want string // want: part of the error ("" = ready)
	}{
		{name: "not made yet", remote: false, want: "no Service web-federated yet"},
		{name: "local member listed", svc: fed(map[string]string{localDiscoveryAnnotation: "web"}), remote: false},
		{name: "local member missing", svc: fed(nil), remote: false, lacks: "src", want: "local-discovery is \"\", want web"},
		{name: "remote member missing (the lost creation race)", svc: fed(map[string]string{localDiscoveryAnnotation: "web"}), remote: true, lacks: "tgt", want: "want web@tgt"},
		{name: "another cluster's member is not ours", svc: fed(map[string]string{localDiscoveryAnnotation: "web", remoteDiscoveryAnnotation: "web@east"}), remote: true, lacks: "tgt", want: "want web@tgt"},
		{name: "both listed", svc: fed(map[string]string{localDiscoveryAnnotation: "web", remoteDiscoveryAnnotation: "web@east,web@tgt"}), remote: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := fake.NewClientset()
			if tt.svc != nil {
				cs = fake.NewClientset(tt.svc)
			}
			lacks, err := federatedLacks(context.Background(), cs, "ns", "web", m, tt.remote)
			if lacks != tt.lacks || (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("federatedLacks = %q, %v; want %q, %q", lacks, err, tt.lacks, tt.want)
			}
		})
	}
}
