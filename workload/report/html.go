package report

import (
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// HTMLFile is the self-contained HTML report: plots embedded as data URIs,
// no script and nothing fetched from the network.
const HTMLFile = "report.html"

// Plot is one plot embedded in the HTML report.
type Plot struct {
	Name string
	URI  template.URL
}

// EmbedPlots reads plot files into data URIs.
func EmbedPlots(paths []string) ([]Plot, error) {
	var out []Plot
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("embed plot: %w", err)
		}
		mime := "image/png"
		if strings.HasSuffix(p, ".svg") {
			mime = "image/svg+xml"
		}
		name := strings.TrimSuffix(filepath.Base(p), filepath.Ext(p))
		// template.URL: html/template would otherwise refuse a data URI;
		// the bytes are our own plot's.
		out = append(out, Plot{Name: name, URI: template.URL("data:" + mime + ";base64," + base64.StdEncoding.EncodeToString(data))})
	}
	return out, nil
}

type htmlData struct {
	R           *Report
	Plots       []Plot
	Instrument  string
	Latencies   []htmlRow
	Diagnoses   []htmlDiagnosis
	Events      []Event
	MoreEvents  int
	Destination string
	Streams     string
}

type htmlRow struct {
	Name string
	Q    Quantiles
}

type htmlDiagnosis struct {
	D                                   Diagnosis
	Since, WrongFor, Recovered, Clients string
	Events                              string
	Log                                 []string
}

var htmlFuncs = template.FuncMap{
	"upper": strings.ToUpper,
	"secs":  secs,
	"bytes": bytesText,
}

var htmlTemplate = template.Must(template.New("report").Funcs(htmlFuncs).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>dstload report: {{.R.Scenario.Name}} — {{upper .R.Verdict}}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:72em;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f3f3f3}.pass{color:#1a7f37;font-weight:bold}.fail{color:#cf222e;font-weight:bold}.inconclusive{color:#9a6700;font-weight:bold}
img{max-width:100%;border:1px solid #ddd;margin:.5em 0}code,.log{font-family:ui-monospace,monospace;font-size:90%}
</style></head><body>
<h1>dstload report: {{.R.Scenario.Name}} — <span class="{{.R.Verdict}}">{{upper .R.Verdict}}</span></h1>
<p>{{.R.Scenario.Shape}}</p>
<table>
<tr><th>started</th><td>{{.R.Run.Started.Format "2006-01-02 15:04:05 MST"}}, {{secs .R.Run.DurationSeconds}}</td></tr>
<tr><th>environment</th><td>{{.R.Environment.Name}} (provider {{.R.Environment.Provider}}), {{.R.Environment.ClockSource}}</td></tr>
<tr><th>destination</th><td>{{.R.Environment.Versions.Destination}} at {{.R.Environment.DestinationAddr}} {{.R.Environment.DestinationBin}} {{range .R.Environment.DestinationArgs}}{{.}} {{end}}</td></tr>
<tr><th>dstload</th><td>{{.R.Environment.Versions.Dstload}}; host {{.R.Environment.OS}}/{{.R.Environment.Arch}}, {{.R.Environment.CPUs}} CPUs</td></tr>
<tr><th>streams</th><td>{{.Streams}}</td></tr>
{{with .R.Monitoring}}<tr><th>prometheus</th><td><a href="{{.GraphURL}}">{{.Start.Format "15:04:05"}} to {{.End.Format "15:04:05 MST"}}</a> on {{.PrometheusURL}}</td></tr>{{end}}
</table>
<h2>Criteria</h2>
<table><tr><th>verdict</th><th>criterion</th><th>measured</th><th>note</th></tr>
{{range .R.Criteria}}<tr><td class="{{.Verdict}}">{{upper .Verdict}}</td><td>{{.Threshold}}</td><td>{{.MeasuredText}}</td><td>{{.Reason}}</td></tr>
{{end}}</table>
<h2>Stale and missing endpoints</h2>
<p>{{.R.Totals.StaleEndpoints}} stale (worst {{secs .R.Totals.StaleEndpointsWorstSeconds}}), {{.R.Totals.MissingEndpoints}} missing (worst {{secs .R.Totals.MissingWorstSeconds}}) at the events' deadlines.</p>
{{if .Diagnoses}}<table><tr><th>kind</th><th>endpoint</th><th>service</th><th>streams</th><th>clients</th><th>since</th><th>wrong for</th><th>recovered</th><th>events</th><th>controller log (same service and window)</th></tr>
{{range .Diagnoses}}<tr><td class="fail">{{.D.Kind}}</td><td><code>{{.D.Addr}}</code></td><td>{{.D.Service}}</td><td>{{.D.Streams}} of {{.D.ServiceStreams}}</td><td>{{.Clients}}</td><td>{{.Since}}</td><td>{{.WrongFor}}</td><td>{{.Recovered}}</td><td>{{.Events}}</td><td class="log">{{range .Log}}{{.}}<br>{{else}}none{{end}}</td></tr>
{{end}}</table>{{end}}
{{with .R.ControllerLog}}<h2>Destination controller log</h2>
{{if .Error}}<p>Could not read {{.Source}}: {{.Error}}</p>{{else}}<p>{{.Lines}} error and warning lines in <code>{{.Source}}</code> during the run, {{len .Kinds}} kinds.</p>
{{if .Kinds}}<table><tr><th>count</th><th>level</th><th>message (names, addresses, numbers masked)</th><th>first</th><th>last</th></tr>
{{range .Kinds}}<tr><td>{{.Count}}</td><td>{{.Level}}</td><td class="log">{{.Message}}</td><td>{{.First.Format "15:04:05"}}</td><td>{{.Last.Format "15:04:05"}}</td></tr>
{{end}}</table>{{end}}{{end}}{{end}}
<h2>Plots</h2>
{{range .Plots}}<figure><img src="{{.URI}}" alt="{{.Name}}"><figcaption>{{.Name}}</figcaption></figure>
{{end}}
<h2>Latencies</h2>
<table><tr><th></th><th>n</th><th>p50</th><th>p95</th><th>p99</th><th>p99.9</th><th>max</th></tr>
{{range .Latencies}}<tr><td>{{.Name}}</td><td>{{.Q.Count}}</td>{{if .Q.Count}}<td>{{secs .Q.P50}}</td><td>{{secs .Q.P95}}</td><td>{{secs .Q.P99}}</td><td>{{secs .Q.P999}}</td><td>{{secs .Q.Max}}</td>{{else}}<td colspan="5">no samples</td>{{end}}</tr>
{{end}}</table>
<h2>Instrument</h2><p>{{.Instrument}}</p>
<h2>Destination controller</h2><p>{{.Destination}}</p>
<h2>Events</h2>
{{if .Events}}<table><tr><th>service</th><th>seq</th><th>target</th><th>written</th><th>k8s convergence</th><th>outcome</th><th>streams</th><th>missed</th><th>fanout</th></tr>
{{range .Events}}<tr><td>{{.Service}}</td><td>{{.Seq}}</td><td>{{.Target}}</td><td>{{.Written.Format "15:04:05.000"}}</td><td>{{if .KubeReached}}{{secs .KubeConvergenceSeconds}}{{else}}not reached{{end}}</td><td>{{.Outcome}}</td><td>{{.Streams}}</td><td>{{.Missed}}</td><td>{{if .FanoutComplete}}{{secs .FanoutCompletionSeconds}}{{else}}incomplete{{end}}</td></tr>
{{end}}</table>{{if .MoreEvents}}<p>{{.MoreEvents}} more events in report.json.</p>{{end}}{{else}}<p>No scale events.</p>{{end}}
</body></html>
`))

// WriteHTML writes the self-contained HTML report.
func WriteHTML(w io.Writer, r *Report, plots []Plot) error {
	d := htmlData{R: r, Plots: plots, Instrument: instrumentText(r.Instrument)}
	for _, row := range []htmlRow{
		{"update latency", r.UpdateLatency}, {"k8s convergence", r.KubeConvergence}, {"fanout completion", r.FanoutCompletion},
		{"e2e latency", r.E2ELatency}, {"first-update latency", r.FirstUpdateLatency},
	} {
		d.Latencies = append(d.Latencies, row)
	}
	for _, g := range r.EndpointDiagnoses {
		h := htmlDiagnosis{D: g, Since: sinceText(g), WrongFor: secs(g.WrongForSeconds), Recovered: recoveredText(g),
			Clients: clientsText(g.Clients), Events: seqsText(g.Events)}
		for _, l := range g.ControllerLog {
			h.Log = append(h.Log, logText(l))
		}
		d.Diagnoses = append(d.Diagnoses, h)
	}
	d.Events = r.Events
	if len(d.Events) > maxEventRows {
		d.MoreEvents = len(d.Events) - maxEventRows
		d.Events = d.Events[:maxEventRows]
	}
	t := r.Totals
	d.Streams = fmt.Sprintf("%d of %d opened, %d sampled; %d errors, %d resets, %d reconnects; %d missed of %d stream-events",
		t.Streams, t.StreamsExpected, r.Sampling.SampledStreams, t.StreamErrors, t.StreamResets, t.Reconnects, t.MissedStreams, t.StreamEvents)
	ds := r.Destination
	d.Destination = fmt.Sprintf("memory max %s (load window %s -> %s, trend %s/hour), cpu %.1fs, subscribers max %.0f, overflows %.0f, restarts %d, %d of %d scrapes failed",
		bytesText(ds.MemoryMaxBytes), bytesText(ds.MemoryLoadStartBytes), bytesText(ds.MemoryLoadEndBytes), signedBytes(ds.MemoryGrowthPerHourBytes),
		ds.CPUSeconds, ds.SubscribersMax, ds.QueueOverflows, ds.Restarts, ds.ScrapeErrors, len(ds.Samples))
	if err := htmlTemplate.Execute(w, d); err != nil {
		return fmt.Errorf("render HTML report: %w", err)
	}
	return nil
}
