package runner

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"

	"github.com/dstload/dstload/workload/admin"
	"github.com/dstload/dstload/workload/record"
)

// adminPods serves one real admin server (workload/admin, as churn and
// client serve) per pod on 127.0.0.1 and returns a Fetch that reads them
// over HTTP, as the pods proxy would.
func adminPods(t *testing.T, pods map[string]admin.Handlers) Fetch {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	addrs := map[string]string{}
	for name, h := range pods {
		addr, _, err := admin.Serve(ctx, testLog(t), "127.0.0.1:0", h.Mux())
		if err != nil {
			t.Fatal(err)
		}
		addrs[name] = addr.String()
	}
	hc := &http.Client{Timeout: 5 * time.Second}
	return func(ctx context.Context, pod, path string) ([]byte, error) {
		addr, ok := addrs[pod]
		if !ok {
			return nil, fmt.Errorf("pod %s: not found", pod)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
		if err != nil {
			return nil, err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return nil, fmt.Errorf("pod %s: %w", pod, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("pod %s: GET %s: %s", pod, path, resp.Status)
		}
		return b, err
	}
}

func gaugeReg(t *testing.T, vals map[string]float64) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewRegistry()
	for name, v := range vals {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: name})
		g.Set(v)
		reg.MustRegister(g)
	}
	return reg
}

// TestCollectFromAdminServers collects and merges the records of a churn
// and two client processes from their real admin servers, sums their
// metrics, and fails on a pod it cannot read.
func TestCollectFromAdminServers(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	churnSet := record.Set{
		ScaleEvents:     []record.ScaleEvent{{Service: "ns/target-000", Seq: 1, Target: 5, Time: t0}},
		EndpointChanges: []record.EndpointChange{{Service: "ns/target-000", Addr: "10.0.0.1:8080", Ready: true, Time: t0.Add(time.Second)}},
		KubeConvergence: []record.KubeConvergence{{Service: "ns/target-000", Seq: 1, Target: 5, Reached: true, Time: t0.Add(time.Second)}},
	}
	clientSet := func(name string) record.Set {
		return record.Set{
			Streams:           []record.StreamInfo{{Client: name, Stream: 1, Service: "ns/target-000", Sampled: true, Opened: t0}},
			Receipts:          []record.Receipt{{Client: name, Stream: 1, Service: "ns/target-000", Addr: "10.0.0.1:8080", Add: true, Time: t0.Add(2 * time.Second)}},
			StreamConvergence: []record.StreamConvergence{{Client: name, Stream: 1, Service: "ns/target-000", Seq: 1, Target: 5, Converged: t0.Add(2 * time.Second)}},
			Sampling:          []record.Sampling{{Client: name, Streams: 1, Sampled: 1}},
		}
	}
	handlers := map[string]admin.Handlers{
		"churn-0": {Registry: gaugeReg(t, map[string]float64{mChurnWrites: 4, mObserverReady: 12}), Records: func() record.Set { return churnSet }},
		"client-a": {Registry: gaugeReg(t, map[string]float64{mClientStreams: 3, mClientEndpoints: 15}),
			Records: func() record.Set { return clientSet("client-a") }},
		"client-b": {Registry: gaugeReg(t, map[string]float64{mClientStreams: 2, mClientEndpoints: 10}),
			Records: func() record.Set { return clientSet("client-b") }},
		// A process whose /records is not a record set.
		"broken": {Registry: prometheus.NewRegistry(), Extra: map[string]http.Handler{
			"GET /records": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "<html>") })}},
	}
	fetch := adminPods(t, handlers)
	ctx := context.Background()

	set, err := collectRecords(ctx, fetch, []string{"client-a", "client-b", "churn-0"})
	if err != nil {
		t.Fatal(err)
	}
	if len(set.ScaleEvents) != 1 || len(set.EndpointChanges) != 1 || len(set.KubeConvergence) != 1 ||
		len(set.Streams) != 2 || len(set.Receipts) != 2 || len(set.StreamConvergence) != 2 || len(set.Sampling) != 2 ||
		set.Streams[0].Client != "client-a" || set.Streams[1].Client != "client-b" || !set.ScaleEvents[0].Time.Equal(t0) {
		t.Fatalf("merged records: %+v", set)
	}
	// The merged set is what the analysis reads: one event, both streams
	// converged 2s after the write.
	a := record.Analyze(set)
	if len(a.Events) != 1 || a.Events[0].Streams != 2 || a.Events[0].Converged != 2 || !a.Events[0].KubeReached ||
		a.Events[0].FanoutCompletion != time.Second {
		t.Fatalf("analysis events %+v", a.Events)
	}

	for _, tt := range []struct {
		pods []string
		want string
	}{
		{[]string{"client-a", "gone"}, "pod gone"},
		{[]string{"churn-0", "broken"}, "collect records of pod broken"},
	} {
		if _, err := collectRecords(ctx, fetch, tt.pods); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("collect %v: err %v, want %q", tt.pods, err, tt.want)
		}
	}

	sums, failed := podMetrics(ctx, fetch, []string{"client-a", "client-b", "gone"}, mClientStreams, mClientEndpoints)
	if sums[mClientStreams] != 5 || sums[mClientEndpoints] != 25 || len(failed) != 1 || failed[0] != "gone" {
		t.Fatalf("client metrics %v, failed %v", sums, failed)
	}
	w := &clusterWatch{fetch: fetch, clients: []string{"client-a", "client-b"}, churn: []string{"churn-0"}}
	m := w.poll(ctx)
	if m.held != 25 || m.streams != 5 || m.writes != 4 || m.observed != 12 || len(m.failed) != 0 {
		t.Fatalf("watch %+v", m)
	}
	if st := w.status(); !strings.Contains(st, "streams 5 up in 2 client pods") || !strings.Contains(st, "endpoints held 25, observed ready 12") {
		t.Fatalf("status %q", st)
	}
}

func TestPodNotReady(t *testing.T) {
	cond := func(ty corev1.PodConditionType, st corev1.ConditionStatus, reason, msg string) corev1.PodCondition {
		return corev1.PodCondition{Type: ty, Status: st, Reason: reason, Message: msg}
	}
	tests := []struct {
		name string
		pod  corev1.Pod
		want string
	}{
		{"ready", corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{
			cond(corev1.PodScheduled, corev1.ConditionTrue, "", ""), cond(corev1.PodReady, corev1.ConditionTrue, "", "")}}}, ""},
		{"unschedulable", corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{
			cond(corev1.PodScheduled, corev1.ConditionFalse, "Unschedulable", "0/3 nodes are available")}}},
			"PodScheduled=False Unschedulable: 0/3 nodes are available"},
		{"image pull", corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending,
			Conditions:        []corev1.PodCondition{cond(corev1.PodReady, corev1.ConditionFalse, "ContainersNotReady", "")},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "client", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImagePull", Message: "not found"}}}}}},
			"Ready=False ContainersNotReady; container client waiting: ErrImagePull not found"},
		{"failed", corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodFailed, Reason: "Evicted"}}, "phase Failed Evicted"},
		{"new", corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending}}, "phase Pending, no Ready condition yet"},
	}
	for _, tt := range tests {
		if got := podNotReady(tt.pod); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}
