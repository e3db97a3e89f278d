package report

import (
	"fmt"
	"math"
	"sort"
	"time"

	"gonum.org/v1/gonum/stat"

	"github.com/dstload/dstload/workload/dstmetrics"
	"github.com/dstload/dstload/workload/record"
	"github.com/dstload/dstload/workload/scenario"
)

// Subscribers is who subscribed and what each subscriber cost the
// destination controller.
type Subscribers struct {
	// Nodes are the client nodes (the context token's nodeName) with the
	// streams each carried, from the clients' records.
	Nodes []NodeStreams `json:"nodes"`
	// FilterKeys counts the (service, node) pairs the streams held: the
	// filter groups the controller keeps state for since linkerd2 #15166
	// (hostname and endpoint filtering are the same for every dstload
	// stream). StreamsPerKey* are their sizes.
	FilterKeys       int `json:"filterKeys"`
	StreamsPerKeyMin int `json:"streamsPerKeyMin"`
	StreamsPerKeyMax int `json:"streamsPerKeyMax"`
	// ControllerGroups and ControllerNodes are what the controller's own
	// endpoints_subscribers series said at the last load-window sample
	// (0: no sample, or a controller without nodename labels).
	ControllerGroups int `json:"controllerGroups"`
	ControllerNodes  int `json:"controllerNodes"`

	// Memory is memory per subscriber from the load window.
	Memory MemoryPerSubscriber `json:"memory"`
}

// NodeStreams is one client node's share of the streams.
type NodeStreams struct {
	Node      string `json:"node"`
	Processes int    `json:"processes"`
	Streams   int    `json:"streams"`
}

// MemoryPerSubscriber is (load-window memory - memory before the first
// stream) / subscribers, for RSS and Go heap in use. The load-window
// figures are medians over its samples (the heap saws with every GC).
type MemoryPerSubscriber struct {
	// OK is false when a figure is missing; Reason says which.
	OK     bool   `json:"ok"`
	Reason string `json:"reason,omitempty"`
	// Before is the last good sample before the first stream opened.
	BeforeTime      time.Time `json:"beforeTime,omitzero"`
	BeforeRSSBytes  float64   `json:"beforeRSSBytes"`
	BeforeHeapBytes float64   `json:"beforeHeapBytes"`
	// The load window's samples.
	WindowFrom    time.Time `json:"windowFrom,omitzero"`
	WindowTo      time.Time `json:"windowTo,omitzero"`
	WindowSamples int       `json:"windowSamples"`
	LoadRSSBytes  float64   `json:"loadRSSBytes"`
	LoadHeapBytes float64   `json:"loadHeapBytes"`
	Subscribers   float64   `json:"subscribers"`
	// Per subscriber.
	RSSBytesPerSubscriber  float64 `json:"rssBytesPerSubscriber"`
	HeapBytesPerSubscriber float64 `json:"heapBytesPerSubscriber"`
	// ProfileBytesPerSubscriber is the same from two heap profiles (live
	// heap after a forced GC) when the controller serves pprof: before the
	// first stream and at the load's end.
	ProfileBeforeBytes        float64 `json:"profileBeforeBytes,omitempty"`
	ProfileLoadBytes          float64 `json:"profileLoadBytes,omitempty"`
	ProfileBytesPerSubscriber float64 `json:"profileBytesPerSubscriber,omitempty"`
	// HeapAfterGC* is the live heap (go_memstats_heap_alloc_bytes) right
	// after those profiles' forced GCs: no garbage, no sampling error.
	// heap_per_subscriber uses it when there.
	HeapAfterGCBeforeBytes        float64 `json:"heapAfterGCBeforeBytes,omitempty"`
	HeapAfterGCLoadBytes          float64 `json:"heapAfterGCLoadBytes,omitempty"`
	HeapAfterGCBytesPerSubscriber float64 `json:"heapAfterGCBytesPerSubscriber,omitempty"`
}

// HeapProfiles are the heap profiles' inuse totals a run took, and the
// live heap right after each profile's forced GC (0: none).
type HeapProfiles struct {
	BeforeBytes, LoadBytes               float64
	BeforeAfterGCBytes, LoadAfterGCBytes float64
}

func subscribers(in Input, loadStart, loadEnd time.Time) *Subscribers {
	out := &Subscribers{Nodes: []NodeStreams{}}
	nodeOf := map[string]string{}
	byNode := map[string]*NodeStreams{}
	for _, s := range in.Records.Sampling {
		nodeOf[s.Client] = s.Node
		ns := byNode[s.Node]
		if ns == nil {
			ns = &NodeStreams{Node: s.Node}
			byNode[s.Node] = ns
		}
		ns.Processes++
		ns.Streams += s.Streams
	}
	for _, ns := range byNode {
		out.Nodes = append(out.Nodes, *ns)
	}
	sort.Slice(out.Nodes, func(i, j int) bool { return out.Nodes[i].Node < out.Nodes[j].Node })
	keys := map[[2]string]int{}
	for _, st := range in.Records.Streams {
		keys[[2]string{st.Service, nodeOf[st.Client]}]++
	}
	out.FilterKeys = len(keys)
	for _, n := range keys {
		if out.StreamsPerKeyMin == 0 || n < out.StreamsPerKeyMin {
			out.StreamsPerKeyMin = n
		}
		out.StreamsPerKeyMax = max(out.StreamsPerKeyMax, n)
	}
	for _, s := range in.Destination {
		if s.OK() && inWindow(s.Time, loadStart, loadEnd) {
			out.ControllerGroups, out.ControllerNodes = s.SubscriberGroups, s.SubscriberNodes
		}
	}
	out.Memory = memoryPerSubscriber(in.Destination, firstStream(in.Records), loadStart, loadEnd, in.HeapProfiles)
	return out
}

// firstStream is when the first stream opened (zero: none did).
func firstStream(set record.Set) time.Time {
	var first time.Time
	for _, s := range set.Streams {
		if first.IsZero() || s.Opened.Before(first) {
			first = s.Opened
		}
	}
	return first
}

func memoryPerSubscriber(samples []dstmetrics.Sample, first, from, to time.Time, hp HeapProfiles) MemoryPerSubscriber {
	m := MemoryPerSubscriber{WindowFrom: from.UTC(), WindowTo: to.UTC()}
	var before *dstmetrics.Sample
	var rss, heap, subs []float64
	for i := range samples {
		s := &samples[i]
		if !s.OK() {
			continue
		}
		if !first.IsZero() && s.Time.Before(first) {
			before = s
		}
		if inWindow(s.Time, from, to) {
			rss, heap, subs = append(rss, s.ResidentMemoryBytes), append(heap, s.HeapInuseBytes), append(subs, s.Subscribers)
		}
	}
	m.WindowSamples = len(rss)
	if len(rss) > 0 {
		m.LoadRSSBytes, m.LoadHeapBytes, m.Subscribers = median(rss), median(heap), median(subs)
	}
	switch {
	case first.IsZero():
		m.Reason = "no stream opened"
	case before == nil:
		m.Reason = "no destination metrics sample before the first stream"
	case len(rss) == 0:
		m.Reason = "no destination metrics sample inside the load window"
	case m.Subscribers <= 0:
		m.Reason = "the controller counted no subscribers in the load window"
	default:
		m.OK = true
	}
	if before != nil {
		m.BeforeTime, m.BeforeRSSBytes, m.BeforeHeapBytes = before.Time.UTC(), before.ResidentMemoryBytes, before.HeapInuseBytes
	}
	if m.OK {
		m.RSSBytesPerSubscriber = (m.LoadRSSBytes - m.BeforeRSSBytes) / m.Subscribers
		m.HeapBytesPerSubscriber = (m.LoadHeapBytes - m.BeforeHeapBytes) / m.Subscribers
		if hp.BeforeBytes > 0 && hp.LoadBytes > 0 {
			m.ProfileBeforeBytes, m.ProfileLoadBytes = hp.BeforeBytes, hp.LoadBytes
			m.ProfileBytesPerSubscriber = (hp.LoadBytes - hp.BeforeBytes) / m.Subscribers
		}
		if hp.BeforeAfterGCBytes > 0 && hp.LoadAfterGCBytes > 0 {
			m.HeapAfterGCBeforeBytes, m.HeapAfterGCLoadBytes = hp.BeforeAfterGCBytes, hp.LoadAfterGCBytes
			m.HeapAfterGCBytesPerSubscriber = (hp.LoadAfterGCBytes - hp.BeforeAfterGCBytes) / m.Subscribers
		}
	}
	return m
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Fit is memory = a + b x subscribers by ordinary least squares.
type Fit struct {
	Points int `json:"points"`
	// InterceptBytes is a, SlopeBytesPerSubscriber b (what one more
	// subscriber costs), SlopeStdErrBytes b's standard error, R2 the share
	// of the variance the line explains.
	InterceptBytes          float64 `json:"interceptBytes"`
	SlopeBytesPerSubscriber float64 `json:"slopeBytesPerSubscriber"`
	SlopeStdErrBytes        float64 `json:"slopeStdErrBytes"`
	R2                      float64 `json:"r2"`
}

// FitLine fits y = a + b x. It needs 3 points and 2 distinct x; the
// standard error is that of b under independent, equal-variance residuals
// (sqrt(SSR / (n-2) / Sxx)).
func FitLine(x, y []float64) (Fit, error) {
	if len(x) != len(y) {
		return Fit{}, fmt.Errorf("fit: %d x values, %d y values", len(x), len(y))
	}
	if len(x) < 3 {
		return Fit{}, fmt.Errorf("fit: %d points, need 3", len(x))
	}
	mx := stat.Mean(x, nil)
	var sxx float64
	for _, v := range x {
		sxx += (v - mx) * (v - mx)
	}
	if sxx == 0 {
		return Fit{}, fmt.Errorf("fit: every point has x = %v", x[0])
	}
	a, b := stat.LinearRegression(x, y, nil, false)
	var ssr float64
	for i := range x {
		r := y[i] - (a + b*x[i])
		ssr += r * r
	}
	f := Fit{Points: len(x), InterceptBytes: a, SlopeBytesPerSubscriber: b,
		SlopeStdErrBytes: math.Sqrt(ssr / float64(len(x)-2) / sxx), R2: stat.RSquared(x, y, nil, a, b)}
	if math.IsNaN(f.R2) {
		// Every y equal: the flat line explains them all.
		f.R2 = 1
	}
	return f, nil
}

// perSubscriber is heap_per_subscriber and memory_per_subscriber: the
// sweep's fitted slope when the run swept, else the load window's figure.
func perSubscriber(r *Report, metric string) (float64, bool, string) {
	if sw := r.Sweep; sw != nil {
		f := sw.Heap
		if metric == scenario.MemoryPerSubscriber {
			f = sw.RSS
		}
		if f == nil {
			return 0, false, "the sweep has no fit: " + sw.FitError
		}
		return f.SlopeBytesPerSubscriber, true, ""
	}
	if r.Subscribers == nil || !r.Subscribers.Memory.OK {
		reason := "no subscriber figures"
		if r.Subscribers != nil {
			reason = r.Subscribers.Memory.Reason
		}
		return 0, false, reason
	}
	m := r.Subscribers.Memory
	if metric == scenario.MemoryPerSubscriber {
		return m.RSSBytesPerSubscriber, true, ""
	}
	if m.HeapAfterGCBytesPerSubscriber != 0 {
		return m.HeapAfterGCBytesPerSubscriber, true, ""
	}
	return m.HeapBytesPerSubscriber, true, ""
}

// subscribersText is the summary's subscriber line.
func subscribersText(s *Subscribers) string {
	if s == nil {
		return ""
	}
	txt := fmt.Sprintf("%d client nodes, %d filter keys (%d-%d streams each)", len(s.Nodes), s.FilterKeys, s.StreamsPerKeyMin, s.StreamsPerKeyMax)
	if s.ControllerGroups > 0 {
		txt += fmt.Sprintf(", controller: %d groups on %d nodes", s.ControllerGroups, s.ControllerNodes)
	}
	m := s.Memory
	if !m.OK {
		return txt + "; per subscriber: " + m.Reason
	}
	txt += fmt.Sprintf("; per subscriber (%.0f): heap %s, rss %s", m.Subscribers, bytesOrNegative(m.HeapBytesPerSubscriber), bytesOrNegative(m.RSSBytesPerSubscriber))
	if m.HeapAfterGCBytesPerSubscriber != 0 {
		txt += fmt.Sprintf(", live heap after GC %s", bytesOrNegative(m.HeapAfterGCBytesPerSubscriber))
	}
	if m.ProfileBytesPerSubscriber != 0 {
		txt += fmt.Sprintf(", live heap (pprof) %s", bytesOrNegative(m.ProfileBytesPerSubscriber))
	}
	return txt
}

// bytesOrNegative is a size, with "-" only when negative (panels.go's
// signedBytes marks both signs).
func bytesOrNegative(v float64) string {
	if v < 0 {
		return "-" + scenario.FormatValue(scenario.UnitBytes, -v)
	}
	return scenario.FormatValue(scenario.UnitBytes, v)
}
