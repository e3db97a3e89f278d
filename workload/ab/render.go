package ab

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dstload/dstload/workload/scenario"
)

func writeJSON(w io.Writer, res *Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}

// ReadFile reads an ab.json, refusing other schema versions.
func ReadFile(path string) (*Result, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read A/B result: %w", err)
	}
	var res Result
	if err := json.Unmarshal(data, &res); err != nil {
		return nil, fmt.Errorf("read A/B result %s: %w", path, err)
	}
	if res.SchemaVersion != SchemaVersion {
		return nil, fmt.Errorf("%s has schema version %d; this dstload reads %d", path, res.SchemaVersion, SchemaVersion)
	}
	return &res, nil
}

func val(u scenario.Unit, v *float64) string {
	if v == nil {
		return "-"
	}
	return scenario.FormatValue(u, *v)
}

func signed(u scenario.Unit, v float64) string {
	if v == 0 {
		return "0"
	}
	sign := "+"
	if v < 0 {
		sign = "-"
	}
	return sign + scenario.FormatValue(u, math.Abs(v))
}

// shiftText is "+3ms [+1ms, +6ms]", or "-" without a shift.
func shiftText(m MetricResult) string {
	if m.Shift == nil {
		return "-"
	}
	s := m.Shift
	return fmt.Sprintf("%s [%s, %s]", signed(m.Unit, s.Estimate), signed(m.Unit, s.Low), signed(m.Unit, s.High))
}

func verdictText(m MetricResult) string {
	v := m.Verdict
	if m.Regression {
		v = "WORSE (regression)"
	}
	return v
}

func runsText(m MetricResult, vs []*float64) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = val(m.Unit, v)
	}
	return strings.Join(parts, ", ")
}

func (res *Result) intro(b *strings.Builder) {
	fmt.Fprintf(b, "A: %s\nB: %s\n", res.Sides["a"], res.Sides["b"])
	fmt.Fprintf(b, "%d runs per side, interleaved in pairs A B, B A, ..., %s in all. B - A: %s at %.0f%% confidence;\n",
		res.Repeat, (time.Duration(res.Seconds) * time.Second).String(), res.Method, 100*res.Confidence)
	fmt.Fprintf(b, "a change counts when the whole interval lies beyond the margin: the larger of the metric's floor and %.0f%% of A's median.\n", 100*res.Tolerance)
	if res.AVsA {
		b.WriteString("A-vs-A: both sides are the same controller, so the intervals are this machine's noise floor for this scenario.\n")
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(b, "warning: %s\n", w)
	}
}

func (res *Result) conclusion() string {
	if res.Regressions > 0 {
		return fmt.Sprintf("%d judged metric(s) significantly worse beyond their margin", res.Regressions)
	}
	return "no judged metric significantly worse beyond its margin"
}

// WriteMarkdown writes ab.md.
func WriteMarkdown(w io.Writer, res *Result) {
	var b strings.Builder
	fmt.Fprintf(&b, "# A/B: %s\n\n%s\n\n", res.Scenario, res.Shape)
	res.intro(&b)
	fmt.Fprintf(&b, "\n| metric | A runs | B runs | median A | median B | B - A [%.0f%% interval] | margin | spread A / B | verdict |\n", 100*res.Confidence)
	b.WriteString("|---|---|---|---|---|---|---|---|---|\n")
	for _, m := range res.Metrics {
		name := m.Metric
		verdict := verdictText(m)
		if m.Note != "" {
			verdict += " (" + m.Note + ")"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %.0f%% / %.0f%% | %s |\n", name, runsText(m, m.A), runsText(m, m.B),
			val(m.Unit, m.MedianA), val(m.Unit, m.MedianB), shiftText(m), scenario.FormatValue(m.Unit, m.Margin),
			100*m.SpreadA, 100*m.SpreadB, verdict)
	}
	fmt.Fprintf(&b, "\n%s.\n\n## Runs\n\n| # | side | repeat | verdict | took | report |\n|---|---|---|---|---|---|\n", res.conclusion())
	for i, r := range res.Runs {
		fmt.Fprintf(&b, "| %d | %s | %d | %s | %s | [%s](%s) |\n", i+1, strings.ToUpper(r.Side), r.Repeat, r.Verdict,
			(time.Duration(r.Seconds) * time.Second).String(), r.Dir, filepath.ToSlash(filepath.Join(r.Dir, "report.md")))
	}
	io.WriteString(w, b.String())
}

// WriteSummary prints the verdict table for the terminal.
func WriteSummary(w io.Writer, res *Result) error {
	var b strings.Builder
	fmt.Fprintf(&b, "ab %s\n", res.Scenario)
	res.intro(&b)
	b.WriteString("\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "METRIC\tMEDIAN A\tMEDIAN B\tB-A [%.0f%%]\tVERDICT\n", 100*res.Confidence)
	for _, m := range res.Metrics {
		name := m.Metric
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", name, val(m.Unit, m.MedianA), val(m.Unit, m.MedianB), shiftText(m), verdictText(m))
	}
	tw.Flush()
	fmt.Fprintf(&b, "%s\n", res.conclusion())
	_, err := io.WriteString(w, b.String())
	return err
}
