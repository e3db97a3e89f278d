package ab

import (
	"fmt"
	"math"

	"github.com/dstload/dstload/workload/report"
	"github.com/dstload/dstload/workload/scenario"
)

// Verdicts of one metric.
const (
	Better   = "better"
	Worse    = "worse"
	NoChange = "no significant change"
	NoData   = "no data"
	// Shown is the verdict of a metric compare shows but does not judge
	// (the cluster's own delay, or numbers that include it): a change
	// there says the machine or cluster drifted, not the controller.
	Shown = "shown, not judged"
)

// MetricResult is one metric over every run of both sides.
type MetricResult struct {
	Metric string        `json:"metric"`
	Unit   scenario.Unit `json:"unit"`
	// Judged metrics can be regressions; the others (the cluster's own
	// delay, or numbers that include it) are shown with a verdict only.
	Judged bool `json:"judged"`
	// A and B are the per-run values in repeat order; null where that run
	// had no data for the metric.
	A []*float64 `json:"a"`
	B []*float64 `json:"b"`
	// MedianA, MedianB and Shift are over the runs with data (null with
	// fewer than two such runs on a side).
	MedianA *float64 `json:"medianA"`
	MedianB *float64 `json:"medianB"`
	Shift   *Shift   `json:"shift"`
	// SpreadA and SpreadB are each side's coefficient of variation: how
	// much its own runs differ.
	SpreadA float64 `json:"spreadA"`
	SpreadB float64 `json:"spreadB"`
	// Margin is the smallest shift that counts: the larger of the metric's
	// floor and Tolerance x |MedianA|.
	Margin float64 `json:"margin"`
	// Verdict: "worse" when the whole interval lies above +Margin,
	// "better" when it lies below -Margin, else "no significant change";
	// "no data" when a side has fewer than two runs with data; "shown,
	// not judged" for the metrics that are not Judged.
	Verdict string `json:"verdict"`
	// Regression is a judged metric that came out worse.
	Regression bool   `json:"regression"`
	Note       string `json:"note,omitempty"`
}

// Judge turns the per-run reports of both sides into one result per metric
// that compare knows. a[i] and b[i] are repeat i+1 of each side.
func Judge(a, b []*report.Report, confidence, tolerance float64) ([]MetricResult, error) {
	var out []MetricResult
	for _, m := range report.Metrics() {
		r := MetricResult{Metric: m.Name, Unit: m.Unit, Judged: m.Judged}
		av, bv := values(m, a), values(m, b)
		r.A, r.B = pointers(a, m), pointers(b, m)
		if len(av) < 2 || len(bv) < 2 {
			r.Verdict = NoData
			r.Note = fmt.Sprintf("data in %d of %d A runs, %d of %d B runs", len(av), len(a), len(bv), len(b))
			out = append(out, r)
			continue
		}
		sh, err := ShiftCI(av, bv, confidence)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.Name, err)
		}
		ma, mb := median(av), median(bv)
		r.MedianA, r.MedianB, r.Shift = &ma, &mb, &sh
		r.SpreadA, r.SpreadB = spread(av), spread(bv)
		r.Margin = math.Max(m.Floor, tolerance*math.Abs(ma))
		switch {
		case !m.Judged:
			r.Verdict = Shown
		case !sh.Reached:
			r.Verdict = NoChange
			r.Note = fmt.Sprintf("%d and %d runs cannot reach %.0f%% confidence", len(av), len(bv), 100*confidence)
		case sh.Low > r.Margin:
			r.Verdict = Worse
		case sh.High < -r.Margin:
			r.Verdict = Better
		default:
			r.Verdict = NoChange
		}
		r.Regression = r.Judged && r.Verdict == Worse
		out = append(out, r)
	}
	return out, nil
}

// values are the metric's values of the runs that have data for it.
func values(m report.Metric, rs []*report.Report) []float64 {
	var v []float64
	for _, r := range rs {
		if x, ok := m.Value(r); ok {
			v = append(v, x)
		}
	}
	return v
}

func pointers(rs []*report.Report, m report.Metric) []*float64 {
	out := make([]*float64, len(rs))
	for i, r := range rs {
		if x, ok := m.Value(r); ok {
			out[i] = &x
		}
	}
	return out
}
