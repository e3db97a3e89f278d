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
	c.wave(context.Background(), 4)
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
