package report

import (
	"net/url"
	"strconv"
	"time"
)

// Monitoring links a run to the Prometheus server that watched it (local
// --monitoring): its window, and Prometheus' graph of that window.
type Monitoring struct {
	PrometheusURL string    `json:"prometheusURL"`
	Start         time.Time `json:"start"`
	End           time.Time `json:"end"`
	// GraphURL opens Prometheus' graph page on the window with the
	// controller's subscribers and dstload's e2e latency p99.
	GraphURL string `json:"graphURL"`
}

// graphQueries are the GraphURL's panels (README's PromQL table).
var graphQueries = []string{
	"sum(endpoints_subscribers)",
	"histogram_quantile(0.99, sum by (le) (rate(dstload_client_e2e_latency_seconds_bucket[10s])))",
}

// NewMonitoring is the link for a run from start to end; nil without a
// Prometheus URL. graphPage is the server's graph page (/graph, or
// /classic/graph where only the classic UI is built, as in Debian's
// package).
func NewMonitoring(prometheusURL, graphPage string, start, end time.Time) *Monitoring {
	if prometheusURL == "" {
		return nil
	}
	start, end = start.UTC().Truncate(time.Second), end.UTC().Truncate(time.Second).Add(time.Second)
	// Both UIs read a range in one unit ("95s") ending at a UTC time; the
	// classic one to the minute, so the graph ends at the next minute.
	graphEnd := end.Truncate(time.Minute)
	if graphEnd.Before(end) {
		graphEnd = graphEnd.Add(time.Minute)
	}
	q := url.Values{}
	for i, expr := range graphQueries {
		g := "g" + strconv.Itoa(i) + "."
		q.Set(g+"expr", expr)
		q.Set(g+"tab", "0") // the graph, not the table
		q.Set(g+"range_input", strconv.Itoa(int(graphEnd.Sub(start).Seconds()))+"s")
		q.Set(g+"end_input", graphEnd.Format("2006-01-02 15:04"))
	}
	if graphPage == "" {
		graphPage = "/graph"
	}
	return &Monitoring{PrometheusURL: prometheusURL, Start: start, End: end,
		GraphURL: prometheusURL + graphPage + "?" + q.Encode()}
}
