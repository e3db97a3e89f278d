package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/dstload/dstload/workload/record"
)

// Fetch reads path (e.g. "/records", "/metrics") from a workload pod's
// admin port. In a cluster it goes through the API server's pods proxy
// (podsProxy); tests pass one backed by admin servers on 127.0.0.1.
type Fetch func(ctx context.Context, pod, path string) ([]byte, error)

// podsProxy fetches through the API server (pods/proxy), so dstload needs
// no route to pod IPs and no port-forward.
func podsProxy(cs kubernetes.Interface, namespace string, port int) Fetch {
	return func(ctx context.Context, pod, path string) ([]byte, error) {
		b, err := cs.CoreV1().Pods(namespace).ProxyGet("http", pod, strconv.Itoa(port), path, nil).DoRaw(ctx)
		if err != nil {
			return nil, fmt.Errorf("GET %s from pod %s/%s through the API server: %w", path, namespace, pod, err)
		}
		return b, nil
	}
}

// collectRecords reads /records from every pod and merges them. Any pod
// that cannot be read fails the collection: a report missing a client's
// streams would judge a different run.
func collectRecords(ctx context.Context, fetch Fetch, pods []string) (record.Set, error) {
	sets := make([]record.Set, 0, len(pods))
	for _, p := range pods {
		b, err := fetch(ctx, p, "/records")
		if err != nil {
			return record.Set{}, fmt.Errorf("collect records: %w", err)
		}
		s, err := record.Read(bytes.NewReader(b))
		if err != nil {
			return record.Set{}, fmt.Errorf("collect records of pod %s: %w", p, err)
		}
		sets = append(sets, s)
	}
	return record.Merge(sets...), nil
}

// podMetrics sums the named metric families (gauge, counter or untyped
// values, all label sets) over pods' /metrics. Pods that cannot be read
// are returned in failed (progress goes on without them).
func podMetrics(ctx context.Context, fetch Fetch, pods []string, names ...string) (sums map[string]float64, failed []string) {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	sums = map[string]float64{}
	for _, p := range pods {
		b, err := fetch(ctx, p, "/metrics")
		if err != nil {
			failed = append(failed, p)
			continue
		}
		dec := expfmt.NewDecoder(bytes.NewReader(b), expfmt.NewFormat(expfmt.TypeTextPlain))
		for {
			var mf dto.MetricFamily
			if err := dec.Decode(&mf); err != nil {
				if !errors.Is(err, io.EOF) {
					failed = append(failed, p)
				}
				break
			}
			if !want[mf.GetName()] {
				continue
			}
			for _, m := range mf.GetMetric() {
				switch {
				case m.Gauge != nil:
					sums[mf.GetName()] += m.GetGauge().GetValue()
				case m.Counter != nil:
					sums[mf.GetName()] += m.GetCounter().GetValue()
				case m.Untyped != nil:
					sums[mf.GetName()] += m.GetUntyped().GetValue()
				}
			}
		}
	}
	return sums, failed
}

// componentPods lists the pods of one chart component (churn, client) of
// the release, sorted by name.
func componentPods(ctx context.Context, cs kubernetes.Interface, namespace, release, component string) ([]corev1.Pod, error) {
	sel := "app.kubernetes.io/instance=" + release + "," + componentLabel + "=" + component
	list, err := cs.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, fmt.Errorf("list %s pods: %w", component, err)
	}
	pods := list.Items
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	return pods, nil
}

// waitPodsReady waits until want pods of the component are Ready (and no
// more: a rollout in progress would mix processes). On timeout the error
// names each pod that is not ready and why.
func waitPodsReady(ctx context.Context, cs kubernetes.Interface, namespace, release, component string, want int, timeout time.Duration, tick func(ready int)) ([]string, error) {
	deadline := time.Now().Add(timeout)
	for {
		pods, err := componentPods(ctx, cs, namespace, release, component)
		if err != nil {
			return nil, err
		}
		var names, notReady []string
		for _, p := range pods {
			if p.DeletionTimestamp != nil {
				continue
			}
			if why := podNotReady(p); why != "" {
				notReady = append(notReady, fmt.Sprintf("pod %s: %s", p.Name, why))
				continue
			}
			names = append(names, p.Name)
		}
		if tick != nil {
			tick(len(names))
		}
		if len(names) == want && len(notReady) == 0 {
			return names, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			detail := strings.Join(notReady, "; ")
			if detail == "" {
				detail = fmt.Sprintf("%d pods exist", len(pods))
			}
			cause := fmt.Sprintf("not within %s", timeout)
			if ctx.Err() != nil {
				cause = context.Cause(ctx).Error()
			}
			return nil, fmt.Errorf("%s pods: %d of %d ready (%s): %s", component, len(names), want, cause, detail)
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// podNotReady says why a pod is not Ready ("" when it is): the first
// failing condition with its reason and message, and any container
// waiting or crashing.
func podNotReady(p corev1.Pod) string {
	if p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded {
		return fmt.Sprintf("phase %s %s", p.Status.Phase, p.Status.Reason)
	}
	ready := false
	var parts []string
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			ready = true
		}
		if c.Status != corev1.ConditionTrue && len(parts) == 0 {
			s := fmt.Sprintf("%s=%s", c.Type, c.Status)
			if c.Reason != "" {
				s += " " + c.Reason
			}
			if c.Message != "" {
				s += ": " + c.Message
			}
			parts = append(parts, s)
		}
	}
	if ready {
		return ""
	}
	for _, cs := range p.Status.ContainerStatuses {
		switch {
		case cs.State.Waiting != nil:
			parts = append(parts, fmt.Sprintf("container %s waiting: %s %s", cs.Name, cs.State.Waiting.Reason, cs.State.Waiting.Message))
		case cs.State.Terminated != nil:
			parts = append(parts, fmt.Sprintf("container %s terminated: %s (exit %d)", cs.Name, cs.State.Terminated.Reason, cs.State.Terminated.ExitCode))
		case cs.RestartCount > 0:
			parts = append(parts, fmt.Sprintf("container %s restarted %d times", cs.Name, cs.RestartCount))
		}
	}
	if len(parts) == 0 {
		parts = append(parts, fmt.Sprintf("phase %s, no Ready condition yet", p.Status.Phase))
	}
	return strings.Join(parts, "; ")
}
