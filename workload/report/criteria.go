package report

import (
	"fmt"
	"strings"
	"time"

	"github.com/dstload/dstload/workload/record"
	"github.com/dstload/dstload/workload/scenario"
)

// measure returns a metric's value for the report, or a reason why there is
// none. A criterion without data fails: a bound that could not be checked
// has not been met.
func measure(r *Report, metric string) (value float64, ok bool, reason string) {
	lat := func(q Quantiles, pick func(Quantiles) float64, what string) (float64, bool, string) {
		if q.Count == 0 {
			return 0, false, "no " + what + " samples"
		}
		return pick(q), true, ""
	}
	p50 := func(q Quantiles) float64 { return q.P50 }
	p95 := func(q Quantiles) float64 { return q.P95 }
	p99 := func(q Quantiles) float64 { return q.P99 }
	p999 := func(q Quantiles) float64 { return q.P999 }
	mx := func(q Quantiles) float64 { return q.Max }
	d := r.Destination
	switch metric {
	case scenario.UpdateLatencyP50:
		return lat(r.UpdateLatency, p50, "update latency")
	case scenario.UpdateLatencyP95:
		return lat(r.UpdateLatency, p95, "update latency")
	case scenario.UpdateLatencyP99:
		return lat(r.UpdateLatency, p99, "update latency")
	case scenario.UpdateLatencyP999:
		return lat(r.UpdateLatency, p999, "update latency")
	case scenario.UpdateLatencyMax:
		return lat(r.UpdateLatency, mx, "update latency")
	case scenario.E2ELatencyP99:
		return lat(r.E2ELatency, p99, "e2e latency")
	case scenario.FirstUpdateP99:
		return lat(r.FirstUpdateLatency, p99, "first-update latency")
	case scenario.FanoutCompletionMax:
		if len(r.Events) == 0 {
			return 0, false, "no scale events"
		}
		// Only events the cluster completed: the others had nothing
		// (yet) for the controller to fan out.
		judged, incomplete := 0, 0
		for _, e := range r.Events {
			if !clusterCompleted(e) {
				continue
			}
			judged++
			if !e.FanoutComplete {
				incomplete++
			}
		}
		if incomplete > 0 {
			return r.FanoutCompletion.Max, false, fmt.Sprintf("%d of %d events that the cluster completed never completed their fanout (a stream did not converge)", incomplete, judged)
		}
		if judged == 0 {
			return 0, false, noneCompleted
		}
		return r.FanoutCompletion.Max, true, ""
	case scenario.MissedStreams:
		return float64(r.Totals.MissedStreams - r.Totals.ClusterLimitedMissedStreams), true, ""
	case scenario.StreamErrors:
		return float64(r.Totals.StreamErrors), true, ""
	case scenario.StreamResets:
		return float64(r.Totals.StreamResets), true, ""
	case scenario.SubscriptionsHeld:
		if d.LoadSamples == 0 {
			return 0, false, "no destination metrics sample inside the load window"
		}
		if r.Totals.StreamsExpected == 0 {
			return 0, false, "no streams expected"
		}
		return d.SubscribersLoadMin / float64(r.Totals.StreamsExpected), true, ""
	case scenario.DestinationMemoryMax:
		if len(d.Samples) == d.ScrapeErrors {
			return 0, false, "no destination metrics sample"
		}
		return d.MemoryMaxBytes, true, ""
	case scenario.DestinationMemGrowth:
		if d.LoadSamples < 2 || d.MemoryLoadStartBytes == 0 {
			return 0, false, fmt.Sprintf("%d destination metrics samples inside the load window, need 2", d.LoadSamples)
		}
		return (d.MemoryLoadEndBytes - d.MemoryLoadStartBytes) / d.MemoryLoadStartBytes, true, ""
	case scenario.DestinationMemSlope:
		if d.MemorySlopeSamples < 3 {
			return 0, false, fmt.Sprintf("%d destination metrics samples inside the load window, need 3", d.MemorySlopeSamples)
		}
		if w := r.Run.LoadEnd.Sub(r.Run.LoadStart); w < MinSlopeWindow {
			return d.MemoryGrowthPerHourBytes, false, fmt.Sprintf("the load was held %s, a trend per hour needs %s (longer --duration)",
				w.Round(time.Second), MinSlopeWindow)
		}
		return d.MemoryGrowthPerHourBytes, true, ""
	case scenario.StaleEndpoints:
		return float64(r.Totals.StaleEndpoints), true, ""
	case scenario.MissingEndpoints:
		return float64(r.Totals.MissingEndpoints), true, ""
	case scenario.DestinationRestarts:
		if len(d.Samples) == d.ScrapeErrors {
			return 0, false, "no destination metrics sample"
		}
		return float64(d.Restarts), true, ""
	case scenario.HeapPerSubscriber, scenario.MemoryPerSubscriber:
		return perSubscriber(r, metric)
	case scenario.QueueOverflows:
		if len(d.Samples) == d.ScrapeErrors {
			return 0, false, "no destination metrics sample"
		}
		return d.QueueOverflows, true, ""
	}
	return 0, false, fmt.Sprintf("unknown metric %q", metric)
}

func judge(r *Report, s *scenario.Scenario) []CriterionResult {
	out := make([]CriterionResult, 0, len(s.Criteria))
	for _, c := range s.Criteria {
		m := c.Info()
		res := CriterionResult{Metric: c.Metric, Description: m.Doc, Unit: string(m.Unit), Threshold: c.String(), Verdict: Pass}
		if c.Min != nil {
			v := c.Min.Value
			res.Min = &v
		}
		if c.Max != nil {
			v := c.Max.Value
			res.Max = &v
		}
		v, ok, reason := measure(r, c.Metric)
		if ok || reason != "" && v != 0 {
			res.Measured = &v
			res.MeasuredText = scenario.FormatValue(m.Unit, v)
		} else {
			res.MeasuredText = "no data"
		}
		if w := worstText(r, c.Metric); ok && v > 0 && w != "" {
			res.MeasuredText += " (" + w + ")"
		}
		switch {
		case !ok:
			res.Verdict, res.Reason = Fail, reason
		case observerBased(c.Metric):
			// The observer may have been late by up to the error bound,
			// which makes these metrics too small, never too large.
			res.Verdict, res.Reason = withinError(m.Unit, v, r.Instrument.ErrorBoundSeconds, res.Min, res.Max)
		case !within(m.Unit, v, res.Min, res.Max):
			res.Verdict = Fail
		}
		// Events the cluster did not complete are left out of these;
		// when they are many, what is left cannot vouch for a pass.
		// A failure of the events that remain stands: it is the
		// controller's.
		if n, share := clusterLimited(r); fanoutBased(c.Metric) && n > 0 &&
			(res.Verdict == Pass && share > MaxClusterLimitedShare || reason == noneCompleted) {
			res.Verdict = Inconclusive
			res.Reason = strings.TrimPrefix(res.Reason+"; ", "; ") + clusterLimitedReason(n, len(r.Events))
		}
		out = append(out, res)
	}
	return out
}

// MinSlopeWindow is the shortest held load over which memory growth per
// hour is judged: over minutes, garbage collection and the streams'
// buffers move resident memory more than a leak would.
const MinSlopeWindow = 10 * time.Minute

// worstText adds the longest wrong time to the stale and missing counts.
func worstText(r *Report, metric string) string {
	var s float64
	switch metric {
	case scenario.StaleEndpoints:
		s = r.Totals.StaleEndpointsWorstSeconds
	case scenario.MissingEndpoints:
		s = r.Totals.MissingWorstSeconds
	default:
		return ""
	}
	return "worst " + secs(s) + " wrong"
}

// within applies a criterion's bounds. Latency and memory maxima are strict
// ("p95 < 500ms", as criteria print); counts and ratios include the bound
// ("errors <= 0").
func within(u scenario.Unit, v float64, lo, hi *float64) bool {
	if lo != nil && v < *lo {
		return false
	}
	if hi != nil {
		if u == scenario.UnitSeconds || u == scenario.UnitBytes {
			return v < *hi
		}
		return v <= *hi
	}
	return true
}

const noneCompleted = "the cluster completed no event"

// MaxClusterLimitedShare is the share of events the cluster may leave
// uncompleted (cluster-limited or run-ended) before the fanout criteria
// are inconclusive: beyond it the events that remain are too few, and the
// run says more about the cluster than about the controller.
const MaxClusterLimitedShare = 0.10

// clusterCompleted: the cluster reached the event's target (whatever the
// streams did).
func clusterCompleted(e Event) bool {
	return e.Outcome != record.OutcomeClusterLimited && e.Outcome != record.OutcomeRunEnded
}

// clusterLimited counts the events the cluster did not complete.
func clusterLimited(r *Report) (n int, share float64) {
	for _, e := range r.Events {
		if !clusterCompleted(e) {
			n++
		}
	}
	if len(r.Events) > 0 {
		share = float64(n) / float64(len(r.Events))
	}
	return n, share
}

// fanoutBased are the criteria judged over cluster-completed events.
func fanoutBased(metric string) bool {
	return metric == scenario.FanoutCompletionMax || metric == scenario.MissedStreams
}

func clusterLimitedReason(n, of int) string {
	return fmt.Sprintf("%d of %d events were cluster-limited (the cluster did not reach the target before the next event or the end): "+
		"give the cluster time (longer --hold), fewer endpoints per wave (--scale), or a bigger machine", n, of)
}
