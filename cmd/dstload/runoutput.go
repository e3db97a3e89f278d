package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/dstload/dstload/workload/report"
	"github.com/dstload/dstload/workload/runner"
)

// runOutput is how `dstload run` hands its result to people and to CI:
// the terminal summary or -o json|yaml on stdout, and optionally a JUnit
// file and a markdown summary for a CI step.
type runOutput struct {
	format    string
	junit     string
	ciSummary string
}

func (o *runOutput) addFlags(cmd *cobra.Command) {
	addOutputFlag(cmd, &o.format)
	f := cmd.Flags()
	f.StringVar(&o.junit, "junit", "", "also write the criteria as a JUnit XML file (one test case per criterion) for CI test reporters")
	f.StringVar(&o.ciSummary, "ci-summary", "", "append a short markdown summary (verdict, latencies, criteria) to this file, e.g. $GITHUB_STEP_SUMMARY")
}

func (o *runOutput) check() error { return checkOutput(o.format) }

// runResult is run's -o json|yaml: what a script branches on, with the
// paths of the full reports.
type runResult struct {
	Scenario string                   `json:"scenario"`
	Shape    string                   `json:"shape"`
	Verdict  string                   `json:"verdict"`
	Criteria []report.CriterionResult `json:"criteria"`
	// Fault is what stopped the run early (docs/faults.md).
	Fault *report.Fault `json:"fault,omitempty"`
	Files runFiles      `json:"files"`
}

type runFiles struct {
	JSON      string   `json:"json"`
	Markdown  string   `json:"markdown"`
	HTML      string   `json:"html"`
	Plots     []string `json:"plots"`
	JUnit     string   `json:"junit,omitempty"`
	CISummary string   `json:"ciSummary,omitempty"`
}

// write prints the result and writes the CI files. The files come first,
// so a CI step finds them whatever the verdict's exit code.
func (o *runOutput) write(a *app, res *runner.Result) error {
	r := res.Report
	if o.junit != "" {
		if err := writeFileWith(o.junit, os.O_TRUNC, func(f *os.File) error { return report.WriteJUnit(f, r) }); err != nil {
			return fmt.Errorf("write --junit file: %w", err)
		}
	}
	if o.ciSummary != "" {
		if err := writeFileWith(o.ciSummary, os.O_APPEND, func(f *os.File) error { return report.WriteCISummary(f, r, res.Files.Markdown) }); err != nil {
			return fmt.Errorf("write --ci-summary file: %w", err)
		}
	}
	if o.format != "" {
		plots := res.Files.Plots
		if plots == nil {
			plots = []string{}
		}
		return writeOutput(a.out, o.format, runResult{
			Scenario: r.Scenario.Name, Shape: r.Scenario.Shape, Verdict: r.Verdict, Criteria: r.Criteria, Fault: r.Fault,
			Files: runFiles{JSON: res.Files.JSON, Markdown: res.Files.Markdown, HTML: res.Files.HTML, Plots: plots, JUnit: o.junit, CISummary: o.ciSummary},
		})
	}
	fmt.Fprintln(a.out)
	if err := report.WriteSummary(a.out, r); err != nil {
		return err
	}
	fmt.Fprintf(a.out, "  report: %s\n", res.Files.JSON)
	fmt.Fprintf(a.out, "          %s\n", res.Files.Markdown)
	fmt.Fprintf(a.out, "          %s\n", res.Files.HTML)
	for _, p := range res.Files.Plots {
		fmt.Fprintf(a.out, "          %s\n", p)
	}
	for _, p := range []string{o.junit, o.ciSummary} {
		if p != "" {
			fmt.Fprintf(a.out, "          %s\n", p)
		}
	}
	return nil
}

func writeFileWith(path string, mode int, fill func(*os.File) error) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|mode, 0o644)
	if err != nil {
		return err
	}
	if err := fill(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
