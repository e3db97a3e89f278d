package report

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// maxEventRows bounds report.md's event table; report.json has them all.
const maxEventRows = 300

// WriteMarkdown writes report.md; plots are file names next to it.
func WriteMarkdown(w io.Writer, r *Report, plots []string) error {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("# dstload report: %s — %s\n\n", r.Scenario.Name, strings.ToUpper(r.Verdict))
	p("%s\n\n", r.Scenario.Shape)
	if r.Fault != nil {
		p("**Stopped early**: %s. %s\n\n", r.Fault.Line(), r.Fault.meaning())
	}
	if r.Scenario.Description != "" {
		// The description is the file's, before --scale and overrides.
		p("Scenario as written: %s\n\n", r.Scenario.Description)
	}
	p("| | |\n|---|---|\n")
	p("| started | %s |\n| duration | %s |\n", r.Run.Started.Format(time.RFC3339), secs(r.Run.DurationSeconds))
	p("| environment | %s (provider %s) |\n| clock | %s |\n", r.Environment.Name, r.Environment.Provider, r.Environment.ClockSource)
	if c := r.Environment.Clusters; c != nil {
		p("| clusters | %s: endpoints, churn and observer in %s; clients and the destination controller under test in %s; every latency and convergence below is a change in %s seen by %s's clients |\n",
			c.Mode, c.EndpointsText(), c.Clients, c.EndpointsText(), c.Clients)
	}
	p("| dstload | %s |\n", r.Environment.Versions.Dstload)
	if v := r.Environment.Versions.Kubernetes; v != "" {
		p("| kubernetes | %s |\n", v)
	}
	if v := r.Environment.Versions.Destination; v != "" {
		p("| destination | %s at %s |\n", v, r.Environment.DestinationAddr)
	}
	if e := r.Environment; e.DestinationBin != "" || len(e.DestinationArgs) > 0 {
		p("| destination controller | `%s` %s |\n", e.DestinationBin, strings.Join(e.DestinationArgs, " "))
	}
	p("| host | %s/%s, %d CPUs |\n", r.Environment.OS, r.Environment.Arch, r.Environment.CPUs)
	p("| scenario source | %s |\n", r.Scenario.Source)
	if o := r.Scenario.Overrides; o != (Overrides{}) {
		p("| overrides | %s |\n", overridesText(o))
	}
	if m := r.Monitoring; m != nil {
		p("| prometheus | [%s to %s](%s) on %s |\n", m.Start.Format("15:04:05"), m.End.Format("15:04:05 MST"), m.GraphURL, m.PrometheusURL)
	}
	p("| stream sampling | %d of %d streams (%.0f%%) record every update |\n\n", r.Sampling.SampledStreams, r.Sampling.Streams, 100*r.Sampling.Rate)

	p("## Criteria\n\n| verdict | criterion | measured | note |\n|---|---|---|---|\n")
	for _, c := range r.Criteria {
		p("| %s | %s | %s | %s |\n", strings.ToUpper(c.Verdict), c.Threshold, c.MeasuredText, c.Reason)
	}
	writeInstrumentMarkdown(p, r.Instrument)
	p("\n## Latencies\n\nDefinitions (docs/latency.md in dstload's repository): *update latency* is EndpointSlice change seen by the observer -> matching Add/Remove on a stream; *fanout completion* is the last stream's convergence - k8s convergence; *e2e* is client convergence - API write; *first update* is first change seen - API write.\n\n")
	p("| | n | p50 | p95 | p99 | p99.9 | max |\n|---|---|---|---|---|---|---|\n")
	for _, row := range []struct {
		name string
		q    Quantiles
	}{
		{"update latency", r.UpdateLatency}, {"k8s convergence", r.KubeConvergence}, {"fanout completion", r.FanoutCompletion},
		{"e2e latency", r.E2ELatency}, {"first-update latency", r.FirstUpdateLatency},
	} {
		q := row.q
		if q.Count == 0 {
			p("| %s | 0 | | | | | |\n", row.name)
			continue
		}
		p("| %s | %d | %s | %s | %s | %s | %s |\n", row.name, q.Count, secs(q.P50), secs(q.P95), secs(q.P99), secs(q.P999), secs(q.Max))
	}
	writeDiagnosesMarkdown(p, r)
	t := r.Totals
	p("\n## Totals\n\n")
	p("- scale events %d, failed writes %d, endpoint changes %d\n", t.ScaleEvents, t.ScaleFailures, t.EndpointChanges)
	p("- streams %d of %d, reconnects %d, errors %d, resets %d\n", t.Streams, t.StreamsExpected, t.Reconnects, t.StreamErrors, t.StreamResets)
	p("- update samples %d, missed updates %d, stream-events %d, missed streams %d\n", t.Updates, t.MissedUpdates, t.StreamEvents, t.MissedStreams)
	if len(t.StreamEnds) > 0 {
		var parts []string
		for _, c := range sortedKeys(t.StreamEnds) {
			parts = append(parts, fmt.Sprintf("%s %d", c, t.StreamEnds[c]))
		}
		p("- stream ends by cause: %s\n", strings.Join(parts, ", "))
	}
	d := r.Destination
	p("\n## Destination controller\n\n")
	p("- metrics %s, %d samples (%d failed)\n", d.MetricsURL, len(d.Samples), d.ScrapeErrors)
	p("- memory max %s; load window %s -> %s\n", bytesText(d.MemoryMaxBytes), bytesText(d.MemoryLoadStartBytes), bytesText(d.MemoryLoadEndBytes))
	p("- cpu %.2fs, goroutines max %.0f, subscribers max %.0f (min while loaded %.0f), queue overflows %.0f, restarts %d\n",
		d.CPUSeconds, d.GoroutinesMax, d.SubscribersMax, d.SubscribersLoadMin, d.QueueOverflows, d.Restarts)
	if r.Subscribers != nil {
		p("- subscribers: %s\n", subscribersText(r.Subscribers))
	}
	sweepMarkdown(p, r.Sweep)
	if len(plots) > 0 {
		p("\n## Plots\n\n")
		for _, f := range plots {
			p("![%s](%s)\n\n", strings.TrimSuffix(f, filepath.Ext(f)), f)
		}
	}
	if len(r.ByCluster) > 0 {
		p("\n## By cluster\n\nEach cluster's endpoint changes and the events that scaled its members; a stream converged on an event when it held the union of both clusters' members.\n\n")
		p("| changes in | events | complete | update p50 | update p99 | k8s convergence p99 | fanout max |\n|---|---|---|---|---|---|---|\n")
		for _, c := range r.ByCluster {
			p("| %s | %d | %d | %s | %s | %s | %s |\n", c.Cluster, c.Events, c.Complete, qv(c.UpdateLatency, c.UpdateLatency.P50),
				qv(c.UpdateLatency, c.UpdateLatency.P99), qv(c.KubeConvergence, c.KubeConvergence.P99), qv(c.FanoutCompletion, c.FanoutCompletion.Max))
		}
	}
	p("\n## Events\n\n")
	if len(r.Events) == 0 {
		p("No scale events.\n")
	} else {
		p("| service | seq | target | written | k8s convergence | fanout | streams | missed | e2e p50 | e2e p99 | first-update p99 | update p99 |\n")
		p("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
		for i, e := range r.Events {
			if i == maxEventRows {
				p("\n%d more events in report.json.\n", len(r.Events)-maxEventRows)
				break
			}
			kube, fan := "not reached", "incomplete"
			if e.KubeReached {
				kube = secs(e.KubeConvergenceSeconds)
			}
			if e.FanoutComplete {
				fan = secs(e.FanoutCompletionSeconds)
			}
			svc, target := e.Service, fmt.Sprint(e.Target)
			if e.Cluster != "" {
				svc, target = e.Service+" in "+e.Cluster, fmt.Sprintf("%d (union %d)", e.Target, e.Expect)
			}
			p("| %s | %d | %s | %s | %s | %s | %d | %d | %s | %s | %s | %s |\n", svc, e.Seq, target,
				e.Written.Format("15:04:05.000"), kube, fan, e.Streams, e.Missed,
				qv(e.E2E, e.E2E.P50), qv(e.E2E, e.E2E.P99), qv(e.FirstUpdate, e.FirstUpdate.P99), qv(e.UpdateLatency, e.UpdateLatency.P99))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func qv(q Quantiles, v float64) string {
	if q.Count == 0 {
		return "-"
	}
	return secs(v)
}

func overridesText(o Overrides) string {
	var parts []string
	if o.Scale != 0 {
		parts = append(parts, fmt.Sprintf("scale %g", o.Scale))
	}
	if o.DurationSeconds != 0 {
		parts = append(parts, "duration "+secs(o.DurationSeconds))
	}
	if o.Cycles != nil {
		parts = append(parts, fmt.Sprintf("cycles %d", *o.Cycles))
	}
	if o.HoldMaxSeconds != 0 || o.HoldMinSeconds != 0 {
		parts = append(parts, fmt.Sprintf("hold %s/%s", secs(o.HoldMaxSeconds), secs(o.HoldMinSeconds)))
	}
	if o.SettleSeconds != 0 {
		parts = append(parts, "settle "+secs(o.SettleSeconds))
	}
	if o.ClientNodes != 0 {
		parts = append(parts, fmt.Sprintf("client nodes %d", o.ClientNodes))
	}
	return strings.Join(parts, ", ")
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// errNoData marks a plot with nothing to draw; Write skips it.
var errNoData = errors.New("no data")

// writeInstrumentMarkdown is report.md's instrument section.
func writeInstrumentMarkdown(p func(string, ...any), in Instrument) {
	p("\n## Instrument\n\n")
	p("Update latency and fanout completion may be too small by up to **%s** (%s): a criterion on them passes or fails only when that margin cannot change its verdict, otherwise it is inconclusive (docs/latency.md).", secs(in.ErrorBoundSeconds), in.ErrorBoundSource)
	if !in.Reliable {
		p(" That is above the %s dstload aims for.", secs(ErrorAim))
	}
	p("\n\n| | |\n|---|---|\n")
	if in.ObserverSource != "" {
		p("| observer follows | %s |\n", observerSourceText(in.ObserverSource))
	}
	if in.WatchDelays > 0 {
		p("| observer watch delay (canary, %d writes) | p99 %s, max %s |\n", in.WatchDelays, secs(in.WatchDelayP99Seconds), secs(in.WatchDelayMaxSeconds))
	}
	p("| update latencies < 0 | %.2f%% of %d |\n| update latencies < -%s | %.2f%% |\n| smallest update latency | %s |\n",
		100*in.NegativeShare, in.UpdateSamples, secs(SkewBound), 100*in.BeyondSkewShare, secs(in.MinUpdateLatencySeconds))
	if in.AddLeadSeconds > 0 {
		p("| earliest Add before the observer saw its slice (the observer's delay then) | %s |\n", secs(in.AddLeadSeconds))
	}
	if in.WatchDelays > 0 {
		p("| ahead of the EndpointSlices | %.2f%% of update latencies |\n", 100*in.AheadOfSlicesShare)
	}
	if in.APIDeliveries > 0 {
		p("| API server watch delivery (canary, %d writes), part of every update latency | p50 %s, p99 %s, max %s |\n",
			in.APIDeliveries, secs(in.APIDeliveryP50Seconds), secs(in.APIDeliveryP99Seconds), secs(in.APIDeliveryMaxSeconds))
	}
	if in.RemovalsFromPod > 0 {
		p("| removals timed from their pod's deletion | %d (received before the slice changed) |\n", in.RemovalsFromPod)
	}
	for _, pr := range in.Processes {
		p("| %s process | cpu %.1fs over %s; 50ms timer late p50 %s, p99 %s, max %s |\n", pr.Process, pr.CPUSeconds, secs(pr.WallSeconds),
			secs(pr.TickLatenessP50), secs(pr.TickLatenessP99), secs(pr.TickLatenessMax))
	}
	if in.CPURatio > 0 {
		p("| dstload cpu / destination cpu | %.1fs / %.1fs = %.2f (aim: below %.1f) |\n", in.DstloadCPUSeconds, in.DestinationCPUSeconds, in.CPURatio, CPUBudget)
	}
	for _, n := range in.Notes {
		p("\n%s.\n", n)
	}
}

// observerSourceText says what the observer's reference clock follows.
func observerSourceText(src string) string {
	switch src {
	case "etcd":
		return "etcd (the store, before the API server fans a change out to its watchers)"
	case "api":
		return "the API server's watch"
	}
	return src
}
