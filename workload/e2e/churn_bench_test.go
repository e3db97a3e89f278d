package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/dstload/dstload/internal/testutil"
	"github.com/dstload/dstload/provision/fakenode"
	"github.com/dstload/dstload/provision/local/localtest"
	"github.com/dstload/dstload/workload/churn"
)

// BenchmarkChurnWave: how long one wave of 100 scale writes takes against
// the local cluster's API server (oscillating 0 <-> 1 replicas, no jitter,
// 100 writes in flight), and the write rate. One iteration is one cycle
// (two waves).
func BenchmarkChurnWave(b *testing.B) {
	cl := localtest.Start(b, localtest.Options{})
	ctx := context.Background()
	cs := cl.Clientset
	const n = 100
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	for i := range n {
		labels := map[string]string{"app": fmt.Sprintf("w-%d", i)}
		dep := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("w-%d", i), Namespace: ns, Labels: map[string]string{"dstload.test/target": "true"}},
			Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](0), Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{
					NodeSelector: fakenode.Selector(), Tolerations: []corev1.Toleration{fakenode.Toleration()},
					Containers: []corev1.Container{{Name: "app", Image: "fake"}}}}},
		}
		if _, err := cs.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	ch, err := churn.New(ctx, testutil.Discard(), prometheus.NewRegistry(), cs, churn.Options{
		Namespace: ns, Selector: selector, Pattern: churn.Pattern{Kind: churn.Oscillate, Min: 0, Max: 1, Cycles: 1}})
	if err != nil {
		b.Fatal(err)
	}
	var waves []time.Duration
	for b.Loop() {
		before := len(ch.Records().ScaleEvents)
		if err := ch.Run(ctx); err != nil {
			b.Fatal(err)
		}
		r := ch.Records()
		if len(r.ScaleFailures) > 0 {
			b.Fatalf("failures: %+v", r.ScaleFailures)
		}
		for _, target := range []int{1, 0} {
			var first, last time.Time
			for _, e := range r.ScaleEvents[before:] {
				if e.Target != target {
					continue
				}
				if first.IsZero() || e.Time.Before(first) {
					first = e.Time
				}
				if end := e.Time.Add(e.Took); end.After(last) {
					last = end
				}
			}
			waves = append(waves, last.Sub(first))
		}
	}
	var total time.Duration
	for _, w := range waves {
		total += w
	}
	mean := total / time.Duration(len(waves))
	b.ReportMetric(mean.Seconds(), "s/wave-of-100")
	b.ReportMetric(n/mean.Seconds(), "writes/s")
}
