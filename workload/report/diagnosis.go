package report

import (
	"fmt"
	"strings"
	"time"

	"github.com/dstload/dstload/workload/ctrllog"
	"github.com/dstload/dstload/workload/record"
)

// Diagnosis is one stale or missing endpoint (record.Diagnose) as
// report.json carries it, with the destination controller's own errors
// and warnings about the same service in the same window.
type Diagnosis struct {
	Service string `json:"service"`
	Addr    string `json:"addr"`
	// Kind is "stale" (streams hold it, the EndpointSlices no longer list
	// it ready) or "missing" (listed ready, streams lack it).
	Kind string `json:"kind"`
	// Since is when the observer saw it leave (stale) or appear in (missing)
	// the EndpointSlices; absent when they never listed it.
	Since time.Time `json:"since,omitzero"`
	// FirstDeadline is the first event deadline (the service's next event,
	// or the end of the run) at which streams were wrong; Events are the
	// service's events (seq) at whose deadlines they were.
	FirstDeadline time.Time `json:"firstDeadline"`
	Events        []uint64  `json:"events"`
	// Streams were wrong, of ServiceStreams streams of the service;
	// Clients says how many of them each client process held.
	Streams        int                  `json:"streams"`
	ServiceStreams int                  `json:"serviceStreams"`
	Clients        []record.ClientCount `json:"clients"`
	// Recovered streams got it right before the end of the run; the rest
	// were still wrong then.
	Recovered       int       `json:"recovered"`
	WrongForSeconds float64   `json:"wrongForSeconds"`
	RecoveredBy     time.Time `json:"recoveredBy,omitzero"`
	// ControllerLog: the controller's error and warning lines about this
	// service from Since (or FirstDeadline) to the recovery, or the end,
	// deduplicated.
	ControllerLog []ctrllog.Summary `json:"controllerLog,omitempty"`
}

// ControllerLog is the destination controller's own errors and warnings
// over the run, deduplicated (local provider: its log file).
type ControllerLog struct {
	Source string            `json:"source"`
	Lines  int               `json:"lines"`
	Kinds  []ctrllog.Summary `json:"kinds"`
	// Error says why the log could not be read (then Kinds is empty).
	Error string `json:"error,omitempty"`
}

// logMargin widens a diagnosis' window for its log lines: the log has
// second resolution, and the controller logs what went wrong just before
// the slices said so (it looks the pods up on the slice's update).
const logMargin = 2 * time.Second

func diagnoses(in Input) []Diagnosis {
	end := in.LoadEnd
	perSvc := map[string]int{}
	for _, s := range in.Records.Streams {
		perSvc[s.Service]++
	}
	out := []Diagnosis{}
	for _, d := range record.Diagnose(in.Records, end) {
		g := Diagnosis{
			Service: d.Service, Addr: d.Addr, Kind: d.Kind, Since: d.Since.UTC(), FirstDeadline: d.FirstDeadline.UTC(),
			Events: d.Seqs, Streams: d.Streams, ServiceStreams: perSvc[d.Service], Clients: d.Clients,
			Recovered: d.Recovered, WrongForSeconds: d.WrongFor.Seconds(), RecoveredBy: d.RecoveredBy.UTC(),
		}
		if d.Since.IsZero() {
			g.Since = time.Time{}
		}
		if d.RecoveredBy.IsZero() {
			g.RecoveredBy = time.Time{}
		}
		from := d.Since
		if from.IsZero() {
			from = d.FirstDeadline
		}
		to := in.Ended
		if d.Recovered == d.Streams {
			to = d.RecoveredBy
		}
		var lines []ctrllog.Line
		for _, l := range in.ControllerLog {
			if !l.Time.Before(from.Add(-logMargin).Truncate(time.Second)) && !l.Time.After(to.Add(logMargin)) && l.About(d.Service) {
				lines = append(lines, l)
			}
		}
		g.ControllerLog = ctrllog.Summarize(lines)
		out = append(out, g)
	}
	return out
}

func controllerLog(in Input) *ControllerLog {
	if in.ControllerLogSource == "" {
		return nil
	}
	c := &ControllerLog{Source: in.ControllerLogSource, Lines: len(in.ControllerLog), Kinds: ctrllog.Summarize(in.ControllerLog), Error: in.ControllerLogError}
	if c.Kinds == nil {
		c.Kinds = []ctrllog.Summary{}
	}
	return c
}

// worst counts the diagnoses of one kind and their longest wrong time.
func worst(ds []Diagnosis, kind string) (n int, seconds float64) {
	for _, d := range ds {
		if d.Kind == kind {
			n++
			seconds = max(seconds, d.WrongForSeconds)
		}
	}
	return n, seconds
}

// maxDiagnosisLines bounds the summary's list; report.md and report.json
// have them all.
const maxDiagnosisLines = 10

// clientsText names the client processes and their streams, the first few
// of them.
func clientsText(cs []record.ClientCount) string {
	var parts []string
	for i, c := range cs {
		if i == 4 {
			parts = append(parts, fmt.Sprintf("and %d more", len(cs)-4))
			break
		}
		parts = append(parts, fmt.Sprintf("%s %d", c.Client, c.Streams))
	}
	return fmt.Sprintf("%d client processes: %s", len(cs), strings.Join(parts, ", "))
}

func sinceText(d Diagnosis) string {
	switch {
	case d.Since.IsZero():
		return "never in the EndpointSlices"
	case d.Kind == record.KindStale:
		return "left the EndpointSlices " + d.Since.Format("15:04:05.000")
	}
	return "ready in the EndpointSlices " + d.Since.Format("15:04:05.000")
}

func recoveredText(d Diagnosis) string {
	switch {
	case d.Recovered == d.Streams:
		return "recovered by " + d.RecoveredBy.Format("15:04:05.000")
	case d.Recovered == 0:
		return "not recovered by the end"
	}
	return fmt.Sprintf("%d recovered, %d not by the end", d.Recovered, d.Streams-d.Recovered)
}

func seqsText(seqs []uint64) string {
	parts := make([]string, len(seqs))
	for i, s := range seqs {
		parts[i] = fmt.Sprint(s)
	}
	return strings.Join(parts, ", ")
}

// logText is a log summary's one-line form: count, level, message.
func logText(s ctrllog.Summary) string {
	return fmt.Sprintf("%dx %s %q", s.Count, s.Level, s.Example)
}

// diagnosisLine is one diagnosis in a sentence.
func diagnosisLine(d Diagnosis) string {
	verb := "held by"
	if d.Kind == record.KindMissing {
		verb = "lacked by"
	}
	return fmt.Sprintf("%s %s of %s: %s %d of %d streams (%s), %s, wrong for %s, %s; at the deadlines of events %s",
		d.Kind, d.Addr, d.Service, verb, d.Streams, d.ServiceStreams, clientsText(d.Clients), sinceText(d),
		secs(d.WrongForSeconds), recoveredText(d), seqsText(d.Events))
}

// writeDiagnosesSummary is the summary's stale and missing endpoints.
func writeDiagnosesSummary(b *strings.Builder, r *Report) {
	t := r.Totals
	if len(r.EndpointDiagnoses) == 0 {
		return
	}
	fmt.Fprintf(b, "  endpoints wrong at event deadlines: %d stale (worst %s), %d missing (worst %s)\n",
		t.StaleEndpoints, secs(t.StaleEndpointsWorstSeconds), t.MissingEndpoints, secs(t.MissingWorstSeconds))
	for i, d := range r.EndpointDiagnoses {
		if i == maxDiagnosisLines {
			fmt.Fprintf(b, "    %d more in report.md\n", len(r.EndpointDiagnoses)-i)
			break
		}
		fmt.Fprintf(b, "    %s\n", diagnosisLine(d))
		for j, l := range d.ControllerLog {
			if j == 2 {
				fmt.Fprintf(b, "      controller log: %d more kinds\n", len(d.ControllerLog)-j)
				break
			}
			fmt.Fprintf(b, "      controller log: %s\n", logText(l))
		}
	}
}

// writeDiagnosesMarkdown is report.md's stale and missing endpoints and
// the controller's log.
func writeDiagnosesMarkdown(p func(string, ...any), r *Report) {
	t := r.Totals
	p("\n## Stale and missing endpoints\n\n")
	p("At every event's deadline (the service's next event, or the end of the run), the endpoints that streams held but the EndpointSlices no longer listed ready (stale), or lacked while the slices listed them (missing), for more than %s. ", secs(record.DiagnosisGrace.Seconds()))
	p("%d stale (worst %s), %d missing (worst %s).\n\n", t.StaleEndpoints, secs(t.StaleEndpointsWorstSeconds), t.MissingEndpoints, secs(t.MissingWorstSeconds))
	if len(r.EndpointDiagnoses) > 0 {
		p("| kind | endpoint | service | streams | clients | since | wrong for | recovered | events | controller log (same service and window) |\n")
		p("|---|---|---|---|---|---|---|---|---|---|\n")
		for _, d := range r.EndpointDiagnoses {
			var logs []string
			for _, l := range d.ControllerLog {
				logs = append(logs, mdEscape(logText(l)))
			}
			if len(logs) == 0 {
				logs = []string{"none"}
			}
			p("| %s | %s | %s | %d of %d | %s | %s | %s | %s | %s | %s |\n", d.Kind, d.Addr, d.Service, d.Streams, d.ServiceStreams,
				clientsText(d.Clients), sinceText(d), secs(d.WrongForSeconds), recoveredText(d), seqsText(d.Events), strings.Join(logs, "<br>"))
		}
	}
	c := r.ControllerLog
	if c == nil {
		return
	}
	p("\n## Destination controller log\n\n")
	if c.Error != "" {
		p("Could not read %s: %s\n", c.Source, c.Error)
		return
	}
	p("%d error and warning lines in `%s` during the run, %d kinds (names, addresses and numbers masked).\n\n", c.Lines, c.Source, len(c.Kinds))
	if len(c.Kinds) == 0 {
		return
	}
	p("| count | level | message | first | last |\n|---|---|---|---|---|\n")
	for _, k := range c.Kinds {
		p("| %d | %s | %s | %s | %s |\n", k.Count, k.Level, mdEscape(k.Message), k.First.Format("15:04:05"), k.Last.Format("15:04:05"))
	}
}

// mdEscape keeps a log message from breaking a table row.
func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}
