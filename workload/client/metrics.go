package client

import (
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	streams      prometheus.Gauge
	adds         prometheus.Counter
	removes      prometheus.Counter
	noEndpoints  prometheus.Counter
	reconnects   prometheus.Counter
	ends         *prometheus.CounterVec
	errors       *prometheus.CounterVec
	events       prometheus.Counter
	missed       prometheus.Counter
	e2e          prometheus.Histogram
	firstUpdate  prometheus.Histogram
	endsEndOK    prometheus.Counter
	endsLifetime prometheus.Counter
}

// latencyBuckets span 1 ms to about 4.5 minutes.
var latencyBuckets = prometheus.ExponentialBuckets(0.001, 2, 19)

// newMetrics registers the client's metrics; held reads the endpoints held
// over all streams (the client's counter, so there is one count, not two).
func newMetrics(reg prometheus.Registerer, held func() float64) *metrics {
	endpoints := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "dstload_client_endpoints", Help: "Endpoints held, summed over all streams."}, held)
	m := &metrics{
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "dstload_client_streams", Help: "Destination.Get streams currently open."}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dstload_client_reconnects_total", Help: "Get calls after a stream's first."}),
		ends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dstload_client_stream_resets_total", Help: "Stream ends (other than shutdown) by cause: a gRPC code, EndOK (server ended with OK, i.e. overflow) or Lifetime."}, []string{"cause"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dstload_client_stream_errors_total", Help: "Streams ended by a gRPC error, by code."}, []string{"code"}),
		events: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dstload_client_events_total", Help: "Scale events learned from churn's feed."}),
		missed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dstload_client_missed_total", Help: "Stream/event pairs that did not converge before the next event."}),
		e2e: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "dstload_client_e2e_latency_seconds", Help: "Stream convergence minus churn's API write.", Buckets: latencyBuckets}),
		firstUpdate: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "dstload_client_first_update_latency_seconds", Help: "First change a stream saw minus churn's API write.", Buckets: latencyBuckets}),
	}
	updates := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dstload_client_updates_total", Help: "Updates received, by type."}, []string{"type"})
	m.adds = updates.WithLabelValues("add")
	m.removes = updates.WithLabelValues("remove")
	m.noEndpoints = updates.WithLabelValues("no_endpoints")
	m.endsEndOK = m.ends.WithLabelValues("EndOK")
	m.endsLifetime = m.ends.WithLabelValues("Lifetime")
	reg.MustRegister(m.streams, endpoints, updates, m.reconnects, m.ends, m.errors, m.events, m.missed, m.e2e, m.firstUpdate)
	return m
}
