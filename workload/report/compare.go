package report

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"

	"github.com/dstload/dstload/workload/scenario"
)

// headline is one number `dstload compare` puts side by side. Lower is
// better for all of them. Judged ones can be regressions or improvements;
// context ones (the cluster's own delay, or numbers that include it) are
// shown only.
type headline struct {
	name   string
	unit   scenario.Unit
	judged bool
	// floor is the smallest absolute worsening that counts, so noise on
	// tiny values (2ms -> 3ms is +50%) is not a regression.
	floor float64
	get   func(*Report) (float64, bool)
}

func q(pick func(*Report) Quantiles, f func(Quantiles) float64) func(*Report) (float64, bool) {
	return func(r *Report) (float64, bool) {
		qq := pick(r)
		return f(qq), qq.Count > 0
	}
}

func always(f func(*Report) float64) func(*Report) (float64, bool) {
	return func(r *Report) (float64, bool) { return f(r), true }
}

func hasSamples(r *Report) bool { return len(r.Destination.Samples) > r.Destination.ScrapeErrors }

func dst(f func(Destination) float64) func(*Report) (float64, bool) {
	return func(r *Report) (float64, bool) { return f(r.Destination), hasSamples(r) }
}

var (
	upd    = func(r *Report) Quantiles { return r.UpdateLatency }
	fanout = func(r *Report) Quantiles { return r.FanoutCompletion }
	kube   = func(r *Report) Quantiles { return r.KubeConvergence }
	e2e    = func(r *Report) Quantiles { return r.E2ELatency }
	first  = func(r *Report) Quantiles { return r.FirstUpdateLatency }
	p50    = func(x Quantiles) float64 { return x.P50 }
	p95    = func(x Quantiles) float64 { return x.P95 }
	p99    = func(x Quantiles) float64 { return x.P99 }
	p999   = func(x Quantiles) float64 { return x.P999 }
	qmax   = func(x Quantiles) float64 { return x.Max }
)

const latencyFloor = 0.005 // 5ms

func headlines() []headline {
	return append([]headline{
		{"update latency p50", scenario.UnitSeconds, true, latencyFloor, q(upd, p50)},
		{"update latency p95", scenario.UnitSeconds, true, latencyFloor, q(upd, p95)},
		{"update latency p99", scenario.UnitSeconds, true, latencyFloor, q(upd, p99)},
		{"update latency p99.9", scenario.UnitSeconds, true, latencyFloor, q(upd, p999)},
		{"update latency max", scenario.UnitSeconds, true, latencyFloor, q(upd, qmax)},
		{"fanout completion p99", scenario.UnitSeconds, true, latencyFloor, q(fanout, p99)},
		{"fanout completion max", scenario.UnitSeconds, true, latencyFloor, q(fanout, qmax)},
		{"missed streams", scenario.UnitCount, true, 0, always(func(r *Report) float64 { return float64(r.Totals.MissedStreams) })},
		{"missed updates", scenario.UnitCount, true, 0, always(func(r *Report) float64 { return float64(r.Totals.MissedUpdates) })},
		{"stream errors", scenario.UnitCount, true, 0, always(func(r *Report) float64 { return float64(r.Totals.StreamErrors) })},
		{"stream resets", scenario.UnitCount, true, 0, always(func(r *Report) float64 { return float64(r.Totals.StreamResets) })},
		{"destination memory max", scenario.UnitBytes, true, 8 << 20, dst(func(d Destination) float64 { return d.MemoryMaxBytes })},
		{"destination cpu", scenario.UnitSeconds, true, 0.5, dst(func(d Destination) float64 { return d.CPUSeconds })},
		{"destination goroutines max", scenario.UnitCount, true, 50, dst(func(d Destination) float64 { return d.GoroutinesMax })},
		{"queue overflows", scenario.UnitCount, true, 0, dst(func(d Destination) float64 { return d.QueueOverflows })},
		{"destination restarts", scenario.UnitCount, true, 0, dst(func(d Destination) float64 { return float64(d.Restarts) })},
		{"k8s convergence p99 (cluster)", scenario.UnitSeconds, false, 0, q(kube, p99)},
		{"e2e latency p99 (incl. cluster)", scenario.UnitSeconds, false, 0, q(e2e, p99)},
		{"first-update latency p99", scenario.UnitSeconds, false, 0, q(first, p99)},
	}, subscriberHeadlines()...)
}

// Row is one line of the A/B table.
type Row struct {
	Metric string        `json:"metric"`
	Unit   scenario.Unit `json:"unit"`
	Judged bool          `json:"judged"`
	// A and B are null when that report has no data for the metric.
	A *float64 `json:"a"`
	B *float64 `json:"b"`
	// Delta is B - A; DeltaRatio is Delta / A (null when A is 0 or missing).
	Delta      *float64 `json:"delta"`
	DeltaRatio *float64 `json:"deltaRatio"`
	Regression bool     `json:"regression"`
	// Improvement: B is better than A by as much as a regression would be
	// worse (the same tolerance and floor).
	Improvement bool `json:"improvement"`
	// Floor is the noise floor the delta had to pass (the metric's own, or
	// twice the fits' combined standard error when larger).
	Floor float64 `json:"floor,omitempty"`
	Note  string  `json:"note,omitempty"`
}

// Side names one report of the comparison.
type Side struct {
	Path        string `json:"path"`
	Scenario    string `json:"scenario"`
	Shape       string `json:"shape"`
	Verdict     string `json:"verdict"`
	Destination string `json:"destination,omitempty"`
	Started     string `json:"started"`
}

// Comparison is `dstload compare`'s result.
type Comparison struct {
	A, B Side `json:"-"`
	// Sides repeats A and B for JSON output.
	Sides        map[string]Side `json:"sides"`
	Tolerance    float64         `json:"tolerance"`
	Rows         []Row           `json:"rows"`
	Regressions  int             `json:"regressions"`
	Improvements int             `json:"improvements"`
	Warnings     []string        `json:"warnings,omitempty"`
}

// Compare puts B (the candidate) against A (the reference). A judged
// number regresses when B is worse than A by more than tolerance (a ratio,
// 0.1 = 10%) and by more than the metric's noise floor, and improves when
// B is better by as much; a verdict that went from pass to fail is a
// regression too, from fail to pass an improvement.
func Compare(a, b *Report, aPath, bPath string, tolerance float64) Comparison {
	side := func(r *Report, path string) Side {
		return Side{Path: path, Scenario: r.Scenario.Name, Shape: r.Scenario.Shape, Verdict: r.Verdict,
			Destination: r.Environment.Versions.Destination, Started: r.Run.Started.Format("2006-01-02 15:04:05Z07:00")}
	}
	c := Comparison{A: side(a, aPath), B: side(b, bPath), Tolerance: tolerance}
	c.Sides = map[string]Side{"a": c.A, "b": c.B}
	if a.Scenario.Name != b.Scenario.Name || a.Scenario.Shape != b.Scenario.Shape {
		c.Warnings = append(c.Warnings, fmt.Sprintf("the reports ran different scenarios (%s: %s vs %s: %s); the numbers may not be comparable",
			a.Scenario.Name, a.Scenario.Shape, b.Scenario.Name, b.Scenario.Shape))
	}
	if a.Sampling.Rate != b.Sampling.Rate {
		c.Warnings = append(c.Warnings, fmt.Sprintf("stream sampling differs (%.0f%% vs %.0f%%)", 100*a.Sampling.Rate, 100*b.Sampling.Rate))
	}
	vr := Row{Metric: "verdict", Unit: "verdict", Judged: true, Note: a.Verdict + " -> " + b.Verdict}
	if a.Verdict != Fail && b.Verdict == Fail {
		vr.Regression = true
	}
	if a.Verdict == Fail && b.Verdict == Pass {
		vr.Improvement = true
	}
	c.Rows = append(c.Rows, vr)
	for _, side := range []struct {
		name string
		r    *Report
	}{{"A", a}, {"B", b}} {
		if in := side.r.Instrument; !in.Reliable && in.UpdateSamples > 0 {
			c.Warnings = append(c.Warnings, fmt.Sprintf("%s's update latencies may be up to %s too small (%s)",
				side.name, secs(in.ErrorBoundSeconds), in.ErrorBoundSource))
		}
	}
	for _, h := range headlines() {
		row := Row{Metric: h.name, Unit: h.unit, Judged: h.judged}
		av, aok := h.get(a)
		bv, bok := h.get(b)
		if aok {
			row.A = &av
		}
		if bok {
			row.B = &bv
		}
		switch {
		case aok && bok:
			d := bv - av
			row.Delta = &d
			if av != 0 {
				r := d / math.Abs(av)
				row.DeltaRatio = &r
			}
			row.Floor = max(h.floor, fitNoise(h.name, a, b))
			beyond := math.Abs(d) > row.Floor && math.Abs(d) > tolerance*math.Abs(av)
			row.Regression = h.judged && beyond && d > 0
			row.Improvement = h.judged && beyond && d < 0
		case aok && !bok:
			row.Note = "no data in B"
			row.Regression = h.judged
		case !aok && bok:
			row.Note = "no data in A"
		}
		c.Rows = append(c.Rows, row)
	}
	for _, r := range c.Rows {
		if r.Regression {
			c.Regressions++
		}
		if r.Improvement {
			c.Improvements++
		}
	}
	return c
}

// WriteComparison prints the A/B table.
func WriteComparison(w io.Writer, c Comparison) error {
	var b strings.Builder
	fmt.Fprintf(&b, "A: %s  %s %s  (%s)\n", c.A.Path, c.A.Scenario, strings.ToUpper(c.A.Verdict), c.A.Started)
	fmt.Fprintf(&b, "B: %s  %s %s  (%s)\n", c.B.Path, c.B.Scenario, strings.ToUpper(c.B.Verdict), c.B.Started)
	for _, wn := range c.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", wn)
	}
	b.WriteString("\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "METRIC\tA\tB\tDELTA\t\t")
	for _, r := range c.Rows {
		if r.Unit == "verdict" {
			flag := ""
			if r.Regression {
				flag = "REGRESSION"
			}
			if r.Improvement {
				flag = "IMPROVEMENT"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t\t\t%s\n", r.Metric, strings.ToUpper(c.A.Verdict), strings.ToUpper(c.B.Verdict), flag)
			continue
		}
		val := func(v *float64) string {
			if v == nil {
				return "-"
			}
			return scenario.FormatValue(r.Unit, *v)
		}
		delta, rel := "", ""
		if r.Delta != nil {
			sign := "+"
			if *r.Delta < 0 {
				sign = "-"
			}
			delta = sign + scenario.FormatValue(r.Unit, math.Abs(*r.Delta))
			if *r.Delta == 0 {
				delta = "0"
			}
		}
		if r.DeltaRatio != nil {
			rel = fmt.Sprintf("%+.1f%%", 100**r.DeltaRatio)
		}
		flag := r.Note
		beyond := fmt.Sprintf(" (beyond %.0f%% and %s)", 100*c.Tolerance, scenario.FormatValue(r.Unit, r.Floor))
		if r.Regression {
			flag = strings.TrimSpace("REGRESSION" + beyond + " " + r.Note)
		}
		if r.Improvement {
			flag = strings.TrimSpace("IMPROVEMENT" + beyond + " " + r.Note)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Metric, val(r.A), val(r.B), delta, rel, flag)
	}
	tw.Flush()
	if c.Regressions > 0 {
		fmt.Fprintf(&b, "\n%d regression(s) beyond %.0f%% tolerance\n", c.Regressions, 100*c.Tolerance)
	} else {
		fmt.Fprintf(&b, "\nno regression beyond %.0f%% tolerance\n", 100*c.Tolerance)
	}
	if c.Improvements > 0 {
		fmt.Fprintf(&b, "%d improvement(s) beyond %.0f%% tolerance (the same noise floors)\n", c.Improvements, 100*c.Tolerance)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Metric is one of compare's headline numbers, for comparisons over many
// reports (dstload ab). Lower is better for every one; Floor is the
// smallest absolute worsening that counts; Value is false when a report
// has no data for it.
type Metric struct {
	Name   string
	Unit   scenario.Unit
	Judged bool
	Floor  float64
	Value  func(*Report) (float64, bool)
}

// Metrics lists the numbers Compare judges and shows, in its order.
func Metrics() []Metric {
	var out []Metric
	for _, h := range headlines() {
		out = append(out, Metric{Name: h.name, Unit: h.unit, Judged: h.judged, Floor: h.floor, Value: h.get})
	}
	return out
}
