package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dstload/dstload/workload/scenario"
)

func secs(v float64) string { return scenario.FormatValue(scenario.UnitSeconds, v) }

func bytesText(v float64) string { return scenario.FormatValue(scenario.UnitBytes, v) }

func quantLine(q Quantiles) string {
	if q.Count == 0 {
		return "no samples"
	}
	return fmt.Sprintf("p50 %s  p95 %s  p99 %s  p99.9 %s  max %s  (n=%d)",
		secs(q.P50), secs(q.P95), secs(q.P99), secs(q.P999), secs(q.Max), q.Count)
}

// WriteSummary prints the terminal summary.
func WriteSummary(w io.Writer, r *Report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s  (%s)\n", r.Scenario.Name, strings.ToUpper(r.Verdict), r.Scenario.Shape)
	if r.Fault != nil {
		fmt.Fprintf(&b, "  stopped early: %s\n", r.Fault.Line())
	}
	fmt.Fprintf(&b, "  ran %s on %s (%s)", time.Duration(r.Run.DurationSeconds*float64(time.Second)).Round(time.Second),
		r.Environment.Provider, r.Environment.ClockSource)
	if v := r.Environment.Versions.Destination; v != "" {
		fmt.Fprintf(&b, ", destination %s", v)
	}
	b.WriteString("\n")
	if c := r.Environment.Clusters; c != nil {
		fmt.Fprintf(&b, "  clusters: %s; the endpoints and their churn in %s, the clients in %s: every latency below is a change in %s reaching %s\n",
			c.Mode, c.EndpointsText(), c.Clients, c.EndpointsText(), c.Clients)
	}
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  update latency\t%s\t%d of %d streams sampled\n", quantLine(r.UpdateLatency), r.Sampling.SampledStreams, r.Sampling.Streams)
	fmt.Fprintf(tw, "  k8s convergence\t%s\t\n", quantLine(r.KubeConvergence))
	fmt.Fprintf(tw, "  fanout completion\t%s\t%d of %d events complete\n", quantLine(r.FanoutCompletion), r.FanoutCompletion.Count, len(r.Events))
	fmt.Fprintf(tw, "  e2e latency\t%s\t\n", quantLine(r.E2ELatency))
	fmt.Fprintf(tw, "  first-update latency\t%s\t\n", quantLine(r.FirstUpdateLatency))
	for _, c := range r.ByCluster {
		fmt.Fprintf(tw, "  changes in %s\tupdate %s\t%d of %d events complete, fanout max %s\n",
			c.Cluster, quantLine(c.UpdateLatency), c.Complete, c.Events, secs(c.FanoutCompletion.Max))
	}
	tw.Flush()
	t := r.Totals
	fmt.Fprintf(&b, "  streams: %d of %d opened, %d errors, %d resets, %d reconnects, %d missed of %d stream-events\n",
		t.Streams, t.StreamsExpected, t.StreamErrors, t.StreamResets, t.Reconnects, t.MissedStreams, t.StreamEvents)
	writeDiagnosesSummary(&b, r)
	fmt.Fprintf(&b, "  churn: %d scale events, %d failed writes, %d endpoint changes\n", t.ScaleEvents, t.ScaleFailures, t.EndpointChanges)
	if len(t.EventOutcomes) > 0 {
		var parts []string
		for _, o := range sortedKeys(t.EventOutcomes) {
			parts = append(parts, fmt.Sprintf("%d %s", t.EventOutcomes[o], o))
		}
		fmt.Fprintf(&b, "  events: %s\n", strings.Join(parts, ", "))
	}
	if r.Instrument.HostCPUBusy > 0 {
		fmt.Fprintf(&b, "  host: cpu %.0f%% busy over the load window (%d CPUs)\n", 100*r.Instrument.HostCPUBusy, r.Environment.CPUs)
	}
	d := r.Destination
	fmt.Fprintf(&b, "  destination: memory max %s, cpu %.1fs, goroutines max %.0f, subscribers max %.0f, overflows %.0f, restarts %d, %d scrapes failed\n",
		bytesText(d.MemoryMaxBytes), d.CPUSeconds, d.GoroutinesMax, d.SubscribersMax, d.QueueOverflows, d.Restarts, d.ScrapeErrors)
	if r.Subscribers != nil {
		fmt.Fprintf(&b, "  subscribers: %s\n", subscribersText(r.Subscribers))
	}
	b.WriteString(sweepSummary(r.Sweep))
	fmt.Fprintf(&b, "  instrument: %s\n", instrumentText(r.Instrument))
	b.WriteString("  criteria:\n")
	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, c := range r.Criteria {
		line := fmt.Sprintf("    %s\t%s\tmeasured %s", strings.ToUpper(c.Verdict), c.Threshold, c.MeasuredText)
		if c.Reason != "" {
			line += " (" + c.Reason + ")"
		}
		fmt.Fprintln(tw, line)
	}
	tw.Flush()
	_, err := io.WriteString(w, b.String())
	return err
}
