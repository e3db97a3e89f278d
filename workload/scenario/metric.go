package scenario

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Unit says how a metric's value is measured and how thresholds are written.
type Unit string

const (
	UnitSeconds Unit = "seconds" // thresholds written as Go durations: 500ms, 2s
	UnitBytes   Unit = "bytes"   // thresholds written as 512MiB, 2GiB or a plain byte count
	UnitCount   Unit = "count"   // thresholds written as integers
	UnitRatio   Unit = "ratio"   // thresholds written as 0.1 or 10%
)

// MetricInfo describes one judgeable metric. The names are what scenario
// files use in criteria[].metric and what report.json carries; the report
// package computes the values.
type MetricInfo struct {
	Name  string `json:"name"`
	Unit  Unit   `json:"unit"`
	Short string `json:"short"` // for shapes and tables: "p95", "fanout"
	Doc   string `json:"doc"`
}

// Metric names. Latency words follow docs/latency.md.
const (
	UpdateLatencyP50     = "update_latency_p50"
	UpdateLatencyP95     = "update_latency_p95"
	UpdateLatencyP99     = "update_latency_p99"
	UpdateLatencyP999    = "update_latency_p999"
	UpdateLatencyMax     = "update_latency_max"
	FanoutCompletionMax  = "fanout_completion_max"
	E2ELatencyP99        = "e2e_latency_p99"
	FirstUpdateP99       = "first_update_latency_p99"
	MissedStreams        = "missed_streams"
	StreamErrors         = "stream_errors"
	StreamResets         = "stream_resets"
	SubscriptionsHeld    = "subscriptions_held"
	DestinationMemoryMax = "destination_memory_max"
	DestinationMemGrowth = "destination_memory_growth"
	DestinationMemSlope  = "destination_memory_growth_per_hour"
	StaleEndpoints       = "stale_endpoints"
	MissingEndpoints     = "missing_endpoints"
	DestinationRestarts  = "destination_restarts"
	QueueOverflows       = "endpoint_updates_queue_overflow"
	HeapPerSubscriber    = "heap_per_subscriber"
	MemoryPerSubscriber  = "memory_per_subscriber"
)

var metrics = []MetricInfo{
	{UpdateLatencyP50, UnitSeconds, "p50", "update latency p50: EndpointSlice change seen by the observer -> matching Add/Remove received by a stream"},
	{UpdateLatencyP95, UnitSeconds, "p95", "update latency p95"},
	{UpdateLatencyP99, UnitSeconds, "p99", "update latency p99"},
	{UpdateLatencyP999, UnitSeconds, "p99.9", "update latency p99.9"},
	{UpdateLatencyMax, UnitSeconds, "max latency", "largest update latency"},
	{FanoutCompletionMax, UnitSeconds, "fanout", "largest fanout completion over events: last stream's convergence - k8s convergence; an event some stream never converged on has no value and fails"},
	{E2ELatencyP99, UnitSeconds, "e2e p99", "e2e latency p99: client convergence - churn's API write (cluster included)"},
	{FirstUpdateP99, UnitSeconds, "first-update p99", "first-update latency p99: first change a stream saw - churn's API write"},
	{MissedStreams, UnitCount, "missed", "stream x event pairs where the stream did not converge before the next event"},
	{StreamErrors, UnitCount, "stream errors", "streams that ended with an error status (all causes)"},
	{StreamResets, UnitCount, "stream resets", "streams that ended without an error (OK status from queue overflow, server restarts) and were reopened"},
	{SubscriptionsHeld, UnitRatio, "subscriptions", "lowest endpoints_subscribers total on the destination controller while the load was held, divided by the streams opened"},
	{DestinationMemoryMax, UnitBytes, "memory", "largest process_resident_memory_bytes of the destination controller"},
	{DestinationMemGrowth, UnitRatio, "memory growth", "resident memory at the end of the held load relative to its start: (last - first) / first"},
	{DestinationMemSlope, UnitBytes, "memory/hour", "slope of a least-squares line through the destination controller's resident memory over the held load, per hour (needs 10 minutes of load)"},
	{StaleEndpoints, UnitCount, "stale", "endpoints streams still held at an event's deadline (the service's next event, or the end) more than 5s after they left the EndpointSlices"},
	{MissingEndpoints, UnitCount, "missing", "ready endpoints streams still lacked at an event's deadline more than 5s after they appeared in the EndpointSlices"},
	{DestinationRestarts, UnitCount, "restarts", "times the destination controller's process_start_time_seconds changed or its /metrics stopped answering"},
	{QueueOverflows, UnitCount, "overflows", "increase of endpoint_updates_queue_overflow during the run"},
	{HeapPerSubscriber, UnitBytes, "heap/subscriber", "destination Go heap in use per subscriber: the sweep's fitted slope b, else (load-window median - last sample before the first stream) / subscribers"},
	{MemoryPerSubscriber, UnitBytes, "rss/subscriber", "destination resident memory per subscriber, computed as heap_per_subscriber is"},
}

// Metrics lists every metric a criterion can name.
func Metrics() []MetricInfo { return append([]MetricInfo(nil), metrics...) }

// LookupMetric finds a metric by name.
func LookupMetric(name string) (MetricInfo, bool) {
	for _, m := range metrics {
		if m.Name == name {
			return m, true
		}
	}
	return MetricInfo{}, false
}

func metricNames() string {
	names := make([]string, len(metrics))
	for i, m := range metrics {
		names[i] = m.Name
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// Threshold is a criterion bound as written in the file; Value holds it in
// the metric's base unit once the scenario has been validated.
type Threshold struct {
	Raw   string
	Value float64
}

// UnmarshalYAML keeps the text; its meaning depends on the metric, which is
// only known once the whole criterion has been read.
func (t *Threshold) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode || n.Value == "" {
		return fmt.Errorf("want a value such as 500ms, 2GiB, 0 or 10%%")
	}
	t.Raw = n.Value
	return nil
}

// MarshalYAML writes the bound back as it was written.
func (t Threshold) MarshalYAML() (any, error) { return t.Raw, nil }

// MarshalJSON writes the threshold as written in the file ("500ms").
func (t Threshold) MarshalJSON() ([]byte, error) { return json.Marshal(t.Raw) }

// parse reads Raw in unit u.
func (t *Threshold) parse(u Unit) error {
	s := strings.TrimSpace(t.Raw)
	switch u {
	case UnitSeconds:
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return fmt.Errorf("want a duration such as 500ms or 2s, got %q", t.Raw)
		}
		t.Value = d.Seconds()
	case UnitBytes:
		b, err := ParseBytes(s)
		if err != nil {
			return err
		}
		t.Value = b
	case UnitCount:
		n, err := strconv.ParseUint(s, 10, 63)
		if err != nil {
			return fmt.Errorf("want a whole number such as 0, got %q", t.Raw)
		}
		t.Value = float64(n)
	case UnitRatio:
		pct := strings.HasSuffix(s, "%")
		f, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("want a ratio such as 0.1 or 10%%, got %q", t.Raw)
		}
		if pct {
			f /= 100
		}
		t.Value = f
	default:
		return fmt.Errorf("unknown unit %q", u)
	}
	return nil
}

var byteUnits = []struct {
	suffix string
	mult   float64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"B", 1},
}

// ParseBytes reads sizes like 2GiB, 512Mi, 1.5GB or 1048576.
func ParseBytes(s string) (float64, error) {
	num, mult := s, 1.0
	for _, u := range byteUnits {
		if strings.HasSuffix(s, u.suffix) {
			num, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		// Any other Kubernetes quantity, as in a resources block: 2G,
		// 500M, 1e9, 1.5Gi.
		if q, qerr := resource.ParseQuantity(s); qerr == nil && q.Sign() >= 0 {
			return q.AsApproximateFloat64(), nil
		}
	}
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, fmt.Errorf("want a size such as 2GiB, 512Mi or 1G, got %q", s)
	}
	return f * mult, nil
}

// FormatValue renders a value of unit u for people: 512ms, 1.9GiB, 3, 12.5%.
func FormatValue(u Unit, v float64) string {
	switch u {
	case UnitSeconds:
		d := time.Duration(v * float64(time.Second))
		switch {
		case d >= time.Second:
			return d.Round(time.Millisecond).String()
		case d >= time.Millisecond:
			return d.Round(10 * time.Microsecond).String()
		default:
			return d.Round(time.Microsecond).String()
		}
	case UnitBytes:
		switch {
		case v >= 1<<30:
			return strconv.FormatFloat(v/(1<<30), 'f', 2, 64) + "GiB"
		case v >= 1<<20:
			return strconv.FormatFloat(v/(1<<20), 'f', 1, 64) + "MiB"
		case v >= 1<<10:
			return strconv.FormatFloat(v/(1<<10), 'f', 1, 64) + "KiB"
		default:
			return strconv.FormatFloat(v, 'f', 0, 64) + "B"
		}
	case UnitRatio:
		return strconv.FormatFloat(v*100, 'f', 1, 64) + "%"
	default:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
}
