package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
)

// JUnit XML, the test-result format CI systems (GitHub Actions reporters,
// GitLab, Jenkins) render: one test suite per run, one test case per
// criterion. A failed criterion is a <failure>; an inconclusive one is
// <skipped> with the reason, since it was not judged either way; any
// other verdict (a run that could not finish) is an <error>.
type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       float64         `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr,omitempty"`
	Properties []junitProperty `xml:"properties>property,omitempty"`
	Cases      []junitCase     `xml:"testcase"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	ClassName string        `xml:"classname,attr"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	Error     *junitMessage `xml:"error,omitempty"`
	Skipped   *junitMessage `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes the run's criteria as a JUnit XML report.
func WriteJUnit(w io.Writer, r *Report) error {
	s := junitSuite{
		Name: "dstload." + r.Scenario.Name,
		Time: r.Run.DurationSeconds,
		Properties: []junitProperty{
			{"verdict", r.Verdict},
			{"shape", r.Scenario.Shape},
			{"provider", r.Environment.Provider},
			{"dstload", r.Tool.Version},
		},
	}
	if !r.Run.Started.IsZero() {
		s.Timestamp = r.Run.Started.UTC().Format("2006-01-02T15:04:05")
	}
	if v := r.Environment.Versions.Destination; v != "" {
		s.Properties = append(s.Properties, junitProperty{"destination", v})
	}
	for _, c := range r.Criteria {
		tc := junitCase{
			Name:      c.Threshold,
			ClassName: s.Name,
			SystemOut: fmt.Sprintf("%s (%s): measured %s", c.Metric, c.Description, c.MeasuredText),
		}
		msg := fmt.Sprintf("%s: measured %s", c.Threshold, c.MeasuredText)
		if c.Reason != "" {
			msg += " (" + c.Reason + ")"
		}
		switch c.Verdict {
		case Pass:
		case Fail:
			tc.Failure = &junitMessage{Message: msg, Type: "criterion", Text: msg}
			s.Failures++
		case Inconclusive:
			tc.Skipped = &junitMessage{Message: "inconclusive: " + msg}
			s.Skipped++
		default:
			tc.Error = &junitMessage{Message: c.Verdict + ": " + msg, Type: c.Verdict, Text: msg}
			s.Errors++
		}
		s.Cases = append(s.Cases, tc)
	}
	if f := r.Fault; f != nil {
		// The run was stopped early: an error of the run, not a criterion.
		s.Cases = append(s.Cases, junitCase{Name: "the run ran to its end", ClassName: s.Name,
			Error: &junitMessage{Message: "stopped early: " + f.Line(), Type: "fault", Text: f.Line()}})
		s.Errors++
	}
	s.Tests = len(s.Cases)
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(junitSuites{Suites: []junitSuite{s}}); err != nil {
		return fmt.Errorf("write JUnit report: %w", err)
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// WriteCISummary writes a short markdown summary for a CI step summary
// (GitHub's $GITHUB_STEP_SUMMARY, a merge request note): the verdict, the
// headline latencies and the criteria, without report.md's event table.
func WriteCISummary(w io.Writer, r *Report, reportPath string) error {
	var b strings.Builder
	icon := map[string]string{Pass: "✅", Fail: "❌", Inconclusive: "⚠️"}[r.Verdict]
	if icon == "" {
		icon = "⛔"
	}
	fmt.Fprintf(&b, "### %s dstload %s: %s\n\n", icon, r.Scenario.Name, strings.ToUpper(r.Verdict))
	fmt.Fprintf(&b, "%s; %s on %s", r.Scenario.Shape, secs(r.Run.DurationSeconds), r.Environment.Provider)
	if v := r.Environment.Versions.Destination; v != "" {
		fmt.Fprintf(&b, ", destination %s", v)
	}
	b.WriteString("\n\n")
	if r.Fault != nil {
		fmt.Fprintf(&b, "**Stopped early**: %s. %s\n\n", r.Fault.Line(), r.Fault.meaning())
	}
	b.WriteString("| | p50 | p95 | p99 | max | n |\n|---|---|---|---|---|---|\n")
	for _, q := range []struct {
		name string
		q    Quantiles
	}{{"update latency", r.UpdateLatency}, {"fanout completion", r.FanoutCompletion}, {"e2e latency", r.E2ELatency}} {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %d |\n", q.name, qv(q.q, q.q.P50), qv(q.q, q.q.P95), qv(q.q, q.q.P99), qv(q.q, q.q.Max), q.q.Count)
	}
	t := r.Totals
	fmt.Fprintf(&b, "\nstreams %d/%d, %d errors, %d resets, %d missed of %d stream-events; destination memory max %s, %d restarts\n\n",
		t.Streams, t.StreamsExpected, t.StreamErrors, t.StreamResets, t.MissedStreams, t.StreamEvents, bytesText(r.Destination.MemoryMaxBytes), r.Destination.Restarts)
	b.WriteString("| criterion | measured | verdict |\n|---|---|---|\n")
	for _, c := range r.Criteria {
		v := strings.ToUpper(c.Verdict)
		if c.Reason != "" {
			v += ": " + c.Reason
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", c.Threshold, c.MeasuredText, strings.ReplaceAll(v, "|", `\|`))
	}
	if reportPath != "" {
		fmt.Fprintf(&b, "\nfull report: `%s`\n", reportPath)
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}
