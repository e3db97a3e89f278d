package report

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"
)

func TestWriteJUnit(t *testing.T) {
	r := &Report{Verdict: Fail, Scenario: Scenario{Name: "small-oscillation", Shape: "s"}, Criteria: []CriterionResult{
		{Metric: "update_latency_p95", Threshold: "p95 < 500ms", MeasuredText: "1.2s", Verdict: Fail},
		{Metric: "update_latency_p99", Threshold: "p99 < 2s", MeasuredText: "1.9s", Verdict: Inconclusive, Reason: "within the instrument's error"},
		{Metric: "stream_errors", Threshold: "stream errors <= 0", MeasuredText: "0", Verdict: Pass},
		{Metric: "missed_streams", Threshold: "missed <= 0", MeasuredText: "-", Verdict: "incomplete"},
	}}
	var b bytes.Buffer
	if err := WriteJUnit(&b, r); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Suites []struct {
			Tests    int `xml:"tests,attr"`
			Failures int `xml:"failures,attr"`
			Errors   int `xml:"errors,attr"`
			Skipped  int `xml:"skipped,attr"`
			Cases    []struct {
				Name    string `xml:"name,attr"`
				Failure *struct {
					Message string `xml:"message,attr"`
				} `xml:"failure"`
				Skipped *struct {
					Message string `xml:"message,attr"`
				} `xml:"skipped"`
				Error *struct{} `xml:"error"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(b.Bytes(), &doc); err != nil || len(doc.Suites) != 1 {
		t.Fatalf("%v\n%s", err, b.String())
	}
	s := doc.Suites[0]
	if s.Tests != 4 || s.Failures != 1 || s.Skipped != 1 || s.Errors != 1 {
		t.Fatalf("counts %+v\n%s", s, b.String())
	}
	c := s.Cases
	if c[0].Failure == nil || !strings.Contains(c[0].Failure.Message, "measured 1.2s") || c[1].Skipped == nil ||
		!strings.Contains(c[1].Skipped.Message, "instrument's error") || c[2].Failure != nil || c[2].Skipped != nil || c[3].Error == nil {
		t.Errorf("cases:\n%s", b.String())
	}
	if c[0].Name != "p95 < 500ms" {
		t.Errorf("name %q", c[0].Name)
	}

	b.Reset()
	if err := WriteCISummary(&b, r, "/out/report.md"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"small-oscillation: FAIL", "| `p95 < 500ms` | 1.2s | FAIL |", "INCONCLUSIVE: within the instrument's error", "/out/report.md"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("CI summary lacks %q:\n%s", want, b.String())
		}
	}
	if strings.Contains(b.String(), "| event") {
		t.Errorf("CI summary has the events table:\n%s", b.String())
	}
}
