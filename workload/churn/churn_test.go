package churn

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/dstload/dstload/internal/testutil"
	"github.com/dstload/dstload/workload/record"
)

func TestPatternValidate(t *testing.T) {
	ok := Pattern{Kind: Oscillate, Min: 1, Max: 10, HoldMax: time.Second, HoldMin: time.Second}
	tests := []struct {
		name string
		mod  func(p *Pattern)
		want string
	}{
		{"oscillate", func(p *Pattern) {}, ""},
		{"stable ignores min", func(p *Pattern) { p.Kind, p.Min = Stable, 20 }, ""},
		{"unknown pattern", func(p *Pattern) { p.Kind = "wave" }, "use stable or oscillate"},
		{"min above max", func(p *Pattern) { p.Min = 11 }, "greater than max"},
		{"min equals max", func(p *Pattern) { p.Min = 10 }, "needs min < max"},
		{"negative replicas", func(p *Pattern) { p.Min = -1 }, "negative"},
		{"negative hold", func(p *Pattern) { p.HoldMin = -time.Second }, "must not be negative"},
		{"negative jitter", func(p *Pattern) { p.Jitter = -time.Second }, "must not be negative"},
		{"negative cycles", func(p *Pattern) { p.Cycles = -1 }, "cycles"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := ok
			tt.mod(&p)
			err := p.Validate()
			if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestRetriesAndFailures: a write that fails twice succeeds on its third
// attempt and is one event; a write that always fails is a recorded
// failure, not a silent drop. The API server is a client-go fake here
// (failures cannot be provoked on a real one); real scaling is covered by
// workload/e2e.
func TestRetriesAndFailures(t *testing.T) {
	dep := func(name string) *appsv1.Deployment {
		return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: map[string]string{"t": "y"}}}
	}
	cs := fake.NewClientset(dep("flaky"), dep("broken"), dep("fine"))
	var mu sync.Mutex
	calls := map[string]int{}
	cs.PrependReactor("patch", "deployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
		p := a.(k8stesting.PatchAction)
		if p.GetSubresource() != "scale" {
			return true, nil, fmt.Errorf("patched %q, want the scale subresource", p.GetSubresource())
		}
		mu.Lock()
		defer mu.Unlock()
		calls[p.GetName()]++
		switch {
		case p.GetName() == "broken", p.GetName() == "flaky" && calls["flaky"] <= 2:
			return true, nil, apierrors.NewInternalError(errors.New("etcd is sad"))
		}
		return true, &autoscalingv1.Scale{}, nil
	})
	reg := prometheus.NewRegistry()
	var seen []record.ScaleEvent
	c, err := New(context.Background(), testutil.Discard(), reg, cs, Options{
		Namespace: "ns", Selector: "t=y", Attempts: 3, RetryBackoff: time.Millisecond,
		Pattern: Pattern{Kind: Stable, Max: 4},
	}, func(e record.ScaleEvent) { seen = append(seen, e) })
	if err != nil {
		t.Fatal(err)
	}
	c.wave(context.Background(), c.clusters[0], 4)
	r := c.Records()
	got := map[string]int{}
	for _, e := range r.ScaleEvents {
		got[e.Deployment] = e.Attempts
		if e.Target != 4 || e.Seq != 1 || e.Service != "ns/"+e.Deployment {
			t.Errorf("event %+v", e)
		}
	}
	if want := map[string]int{"flaky": 3, "fine": 1}; !maps.Equal(got, want) {
		t.Errorf("events (deployment: attempts) = %v, want %v", got, want)
	}
	if len(seen) != 2 {
		t.Errorf("sink saw %d events, want 2", len(seen))
	}
	if len(r.ScaleFailures) != 1 || r.ScaleFailures[0].Service != "ns/broken" || r.ScaleFailures[0].Attempts != 3 ||
		!strings.Contains(r.ScaleFailures[0].Error, "etcd is sad") {
		t.Errorf("failures = %+v, want ns/broken after 3 attempts", r.ScaleFailures)
	}
	if n := counter(c.mFailures); n != 1 {
		t.Errorf("failure counter = %v, want 1", n)
	}
	if n := counter(c.mRetries); n != 4 {
		t.Errorf("retry counter = %v, want 4 (2 flaky + 2 broken)", n)
	}
}

func counter(c prometheus.Counter) float64 {
	var m dto.Metric
	_ = c.Write(&m)
	return m.GetCounter().GetValue()
}

// TestClusters: churn over two clusters (federated) numbers one service's
// events across both, names each event's cluster and the union its streams
// should hold (this cluster's new count plus the other's current one), and
// staggers the clusters so that their events alternate.
func TestClusters(t *testing.T) {
	dep := func(replicas int32) *appsv1.Deployment {
		return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", Labels: map[string]string{"t": "y"}},
			Spec: appsv1.DeploymentSpec{Replicas: &replicas}}
	}
	scaled := func(cs *fake.Clientset) *fake.Clientset {
		cs.PrependReactor("patch", "deployments", func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, &autoscalingv1.Scale{}, nil
		})
		return cs
	}
	type ev struct {
		cluster        string
		seq            uint64
		target, expect int
	}
	tests := []struct {
		name   string
		others []Cluster
		want   []ev
	}{
		{name: "one cluster: no cluster, no union", want: []ev{{"", 1, 4, 0}, {"", 2, 1, 0}}},
		{
			name:   "two clusters: one numbering, the union after each",
			others: []Cluster{{Name: "tgt", CS: scaled(fake.NewClientset(dep(3)))}},
			// src 2, tgt 3 -> src 4 (7), tgt 4 (8), src 1 (5), tgt 1 (2).
			want: []ev{{"src", 1, 4, 7}, {"tgt", 2, 4, 8}, {"src", 3, 1, 5}, {"tgt", 4, 1, 2}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := ""
			if tt.others != nil {
				name = "src"
			}
			c, err := New(context.Background(), testutil.Discard(), prometheus.NewRegistry(), scaled(fake.NewClientset(dep(2))), Options{
				Namespace: "ns", Selector: "t=y", Cluster: name, Others: tt.others,
				Pattern: Pattern{Kind: Oscillate, Min: 1, Max: 4, HoldMax: 600 * time.Millisecond, HoldMin: 600 * time.Millisecond, Cycles: 1},
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			var got []ev
			for _, e := range c.Records().ScaleEvents {
				got = append(got, ev{e.Cluster, e.Seq, e.Target, e.Expect})
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("events (cluster seq target expect) = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestClustersMissingDeployment: a Deployment missing in the other cluster
// is named before anything is scaled.
func TestClustersMissingDeployment(t *testing.T) {
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", Labels: map[string]string{"t": "y"}}}
	other := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "api", Namespace: "ns", Labels: map[string]string{"t": "y"}}}
	_, err := New(context.Background(), testutil.Discard(), prometheus.NewRegistry(), fake.NewClientset(dep), Options{
		Namespace: "ns", Selector: "t=y", Cluster: "src", Others: []Cluster{{Name: "tgt", CS: fake.NewClientset(other)}},
		Pattern: Pattern{Kind: Stable, Max: 1},
	})
	if err == nil || !strings.Contains(err.Error(), "ns/web is in cluster src but not in tgt") {
		t.Errorf("New = %v, want the missing deployment named", err)
	}
}
