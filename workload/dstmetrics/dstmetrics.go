// Package dstmetrics samples the Linkerd destination controller's Prometheus
// /metrics endpoint (admin port 9996, docs/architecture.md)
// while a scenario runs: memory, CPU, goroutines, subscribers, queue
// overflows and gRPC stream counts, as a time series for the report.
package dstmetrics

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// Sample is one scrape. Counters are summed over all their label sets.
// report.json carries these as its destination resource series.
type Sample struct {
	Time time.Time `json:"time"`
	// Error is set when the scrape failed; the values are then zero.
	Error string `json:"error,omitempty"`

	ResidentMemoryBytes float64 `json:"residentMemoryBytes"`
	// HeapInuseBytes is go_memstats_heap_inuse_bytes: the Go heap's spans
	// in use, which tracks live objects more closely than RSS (which keeps
	// memory the runtime has not yet returned).
	HeapInuseBytes float64 `json:"heapInuseBytes"`
	// HeapAllocBytes is go_memstats_heap_alloc_bytes: the bytes of heap
	// objects not yet freed; right after a full GC, the live heap.
	HeapAllocBytes float64 `json:"heapAllocBytes"`
	CPUSeconds     float64 `json:"cpuSeconds"`
	Goroutines     float64 `json:"goroutines"`
	// StartTime is process_start_time_seconds: a change means a restart.
	StartTime float64 `json:"startTimeSeconds"`
	// Subscribers is the sum of endpoints_subscribers over all services.
	Subscribers float64 `json:"endpointsSubscribers"`
	// SubscriberGroups counts the endpoints_subscribers series above zero:
	// one per filter group (service port, hostname, nodename) the
	// controller keeps state for since linkerd2 #15166. SubscriberNodes
	// counts their distinct nodename labels; SubscribersByNode sums the
	// subscribers per nodename (kept out of report.json's series, the
	// report summarises it).
	SubscriberGroups  int                `json:"subscriberGroups,omitempty"`
	SubscriberNodes   int                `json:"subscriberNodes,omitempty"`
	SubscribersByNode map[string]float64 `json:"-"`
	// QueueOverflows is the sum of endpoint_updates_queue_overflow.
	QueueOverflows float64 `json:"endpointUpdatesQueueOverflow"`
	// gRPC server stream counters (go-grpc-prometheus), summed over methods.
	GRPCStarted     float64 `json:"grpcServerStarted"`
	GRPCHandled     float64 `json:"grpcServerHandled"`
	GRPCMsgSent     float64 `json:"grpcServerMsgSent"`
	GRPCMsgReceived float64 `json:"grpcServerMsgReceived"`
	// GRPCHandledByCode splits grpc_server_handled_total by grpc_code.
	GRPCHandledByCode map[string]float64 `json:"grpcServerHandledByCode,omitempty"`
}

// OK reports whether the scrape succeeded.
func (s Sample) OK() bool { return s.Error == "" }

// acceptHeader asks for the protobuf exposition first (cheaper to parse for
// a controller with thousands of series) and falls back to text.
const acceptHeader = `application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3,*/*;q=0.1`

// Scrape fetches url once and extracts the sample.
func Scrape(ctx context.Context, client *http.Client, url string) (Sample, error) {
	s := Sample{Time: time.Now()}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return s, fmt.Errorf("scrape %s: %w", url, err)
	}
	req.Header.Set("Accept", acceptHeader)
	resp, err := client.Do(req)
	if err != nil {
		return s, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return s, fmt.Errorf("scrape %s: HTTP %s", url, resp.Status)
	}
	format := expfmt.ResponseFormat(resp.Header)
	var perr error
	if format.FormatType() == expfmt.TypeProtoDelim {
		perr = decodeDelimited(resp.Body, &s)
	} else {
		dec := expfmt.NewDecoder(resp.Body, format)
		for perr == nil {
			var mf dto.MetricFamily
			if perr = dec.Decode(&mf); perr == nil {
				s.add(&mf)
			}
		}
		if errors.Is(perr, io.EOF) {
			perr = nil
		}
	}
	if perr != nil {
		// Drop what was parsed before the error: a failed sample
		// carries no values (see Sample.Error).
		return Sample{Time: s.Time}, fmt.Errorf("scrape %s: parse metrics: %w", url, perr)
	}
	return s, nil
}

// decodeDelimited reads the protobuf exposition (length-delimited
// MetricFamily messages) and decodes only the families a Sample keeps:
// the controller's other families (client-go's request histograms, the
// informers' lag, ...) are never read, and decoding them was about 40%
// of the decode's CPU (BenchmarkDecode).
func decodeDelimited(r io.Reader, s *Sample) error {
	br := bufio.NewReader(r)
	var buf []byte
	for {
		n, err := binary.ReadUvarint(br)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if n > maxFamilyBytes {
			return fmt.Errorf("a metric family of %d bytes (at most %d expected)", n, maxFamilyBytes)
		}
		buf = slices.Grow(buf[:0], int(n))[:n]
		if _, err := io.ReadFull(br, buf); err != nil {
			return err
		}
		if _, ok := families[familyName(buf)]; !ok {
			continue
		}
		var mf dto.MetricFamily
		if err := proto.Unmarshal(buf, &mf); err != nil {
			return err
		}
		s.add(&mf)
	}
}

// maxFamilyBytes bounds one family's message, as expfmt's decoder does.
const maxFamilyBytes = 32 << 20

// familyName is field 1 (name) of an encoded MetricFamily: "" when it has
// none or is malformed, and such a family is skipped like any other that
// the sample does not keep.
func familyName(b []byte) string {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return ""
		}
		b = b[n:]
		if num == 1 && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return ""
			}
			return string(v)
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return ""
		}
		b = b[n:]
	}
	return ""
}

// families is what a Sample keeps of each family it reads, by name; a
// family not here is never decoded.
var families = map[string]func(s *Sample, mf *dto.MetricFamily){
	"process_resident_memory_bytes": func(s *Sample, mf *dto.MetricFamily) { s.ResidentMemoryBytes = sum(mf) },
	"process_cpu_seconds_total":     func(s *Sample, mf *dto.MetricFamily) { s.CPUSeconds = sum(mf) },
	"go_goroutines":                 func(s *Sample, mf *dto.MetricFamily) { s.Goroutines = sum(mf) },
	"process_start_time_seconds":    func(s *Sample, mf *dto.MetricFamily) { s.StartTime = sum(mf) },
	"go_memstats_heap_inuse_bytes":  func(s *Sample, mf *dto.MetricFamily) { s.HeapInuseBytes = sum(mf) },
	"go_memstats_heap_alloc_bytes":  func(s *Sample, mf *dto.MetricFamily) { s.HeapAllocBytes = sum(mf) },
	"endpoints_subscribers": func(s *Sample, mf *dto.MetricFamily) {
		s.Subscribers = sum(mf)
		s.SubscribersByNode = map[string]float64{}
		for _, m := range mf.GetMetric() {
			if value(m) <= 0 {
				continue
			}
			s.SubscriberGroups++
			for _, l := range m.GetLabel() {
				if l.GetName() == "nodename" {
					s.SubscribersByNode[l.GetValue()] += value(m)
				}
			}
		}
		s.SubscriberNodes = len(s.SubscribersByNode)
	},
	"endpoint_updates_queue_overflow":       func(s *Sample, mf *dto.MetricFamily) { s.QueueOverflows += sum(mf) },
	"endpoint_updates_queue_overflow_total": func(s *Sample, mf *dto.MetricFamily) { s.QueueOverflows += sum(mf) },
	"grpc_server_started_total":             func(s *Sample, mf *dto.MetricFamily) { s.GRPCStarted = sum(mf) },
	"grpc_server_handled_total": func(s *Sample, mf *dto.MetricFamily) {
		s.GRPCHandled = sum(mf)
		s.GRPCHandledByCode = map[string]float64{}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "grpc_code" {
					s.GRPCHandledByCode[l.GetValue()] += value(m)
				}
			}
		}
	},
	"grpc_server_msg_sent_total":     func(s *Sample, mf *dto.MetricFamily) { s.GRPCMsgSent = sum(mf) },
	"grpc_server_msg_received_total": func(s *Sample, mf *dto.MetricFamily) { s.GRPCMsgReceived = sum(mf) },
}

// add keeps what the sample needs of mf (nothing when families lacks it).
func (s *Sample) add(mf *dto.MetricFamily) {
	if keep, ok := families[mf.GetName()]; ok {
		keep(s, mf)
	}
}

// sum adds a family's values over all its label sets.
func sum(mf *dto.MetricFamily) float64 {
	var t float64
	for _, m := range mf.GetMetric() {
		t += value(m)
	}
	return t
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Untyped != nil:
		return m.GetUntyped().GetValue()
	}
	return 0
}

// Sampler scrapes one /metrics URL at a fixed interval until its context
// ends. A failed scrape is kept as a sample with Error set: a gap in the
// series is information (the controller may have crashed).
type Sampler struct {
	URL      string
	Interval time.Duration
	Client   *http.Client
	Log      *slog.Logger

	mu      sync.Mutex
	samples []Sample
}

// NewSampler returns a sampler of url every interval.
func NewSampler(url string, interval time.Duration, log *slog.Logger) *Sampler {
	return &Sampler{URL: url, Interval: interval, Client: &http.Client{Timeout: 5 * time.Second}, Log: log}
}

// Run scrapes until ctx is done. It scrapes once at once, so even a short
// run has a first point.
func (s *Sampler) Run(ctx context.Context) {
	t := time.NewTicker(s.Interval)
	defer t.Stop()
	failing := false
	for {
		smp, err := Scrape(ctx, s.Client, s.URL)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			smp.Error = err.Error()
			if !failing {
				s.Log.Warn("destination metrics scrape failed", "url", s.URL, "err", err)
			}
		} else if failing {
			s.Log.Info("destination metrics scrape recovered", "url", s.URL)
		}
		failing = err != nil
		s.mu.Lock()
		s.samples = append(s.samples, smp)
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Samples returns a copy of the samples so far.
func (s *Sampler) Samples() []Sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Sample(nil), s.samples...)
}

// Latest returns the last successful sample, if any.
// Health says whether the newest scrape failed and, if so, since when
// every scrape has failed (the first failure after the last success).
func (s *Sampler) Health() (failing bool, since time.Time, lastErr string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.samples) - 1; i >= 0; i-- {
		if s.samples[i].OK() {
			break
		}
		failing, since = true, s.samples[i].Time
		if lastErr == "" {
			lastErr = s.samples[i].Error
		}
	}
	return failing, since, lastErr
}

func (s *Sampler) Latest() (Sample, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.samples) - 1; i >= 0; i-- {
		if s.samples[i].OK() {
			return s.samples[i], true
		}
	}
	return Sample{}, false
}

// WaitFirst waits until the sampler has a sample, ctx ends or timeout
// passes; a nil sampler returns at once.
func (s *Sampler) WaitFirst(ctx context.Context, timeout time.Duration) {
	if s == nil {
		return
	}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		s.mu.Lock()
		n := len(s.samples)
		s.mu.Unlock()
		if n > 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}
