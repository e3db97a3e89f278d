package ab

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/dstload/dstload/workload/report"
)

func TestMannWhitneyCDF(t *testing.T) {
	// Small cases counted by hand: with sizes 1 and 1, U is 0 or 1; with
	// 2 and 2 the six orderings give U = 0,1,2,2,3,4; with 3 and 3, 20
	// orderings, one each with U = 0 and U = 1, two with U = 2.
	tests := []struct {
		n, m int
		want []float64
	}{
		{1, 1, []float64{0.5, 1}},
		{2, 2, []float64{1. / 6, 2. / 6, 4. / 6, 5. / 6, 1}},
		{3, 3, []float64{1. / 20, 2. / 20, 4. / 20}},
	}
	for _, tc := range tests {
		got := mannWhitneyCDF(tc.n, tc.m)
		if len(got) != tc.n*tc.m+1 || math.Abs(got[len(got)-1]-1) > 1e-12 {
			t.Fatalf("%dx%d: %v", tc.n, tc.m, got)
		}
		for i, w := range tc.want {
			if math.Abs(got[i]-w) > 1e-12 {
				t.Errorf("%dx%d: P(U <= %d) = %v, want %v", tc.n, tc.m, i, got[i], w)
			}
		}
	}
	// Symmetric, and 10x10 agrees with the normal approximation near the
	// centre (mean 50, variance 175).
	c := mannWhitneyCDF(10, 10)
	for u := 0; u < 50; u++ {
		if math.Abs(c[u]-(1-c[99-u])) > 1e-9 {
			t.Fatalf("10x10 not symmetric at %d", u)
		}
	}
	z := (40 + 0.5 - 50) / math.Sqrt(175)
	if want := 0.5 * math.Erfc(-z/math.Sqrt2); math.Abs(c[40]-want) > 0.01 {
		t.Errorf("10x10 P(U <= 40) = %v, normal approximation %v", c[40], want)
	}
}

func TestShiftCI(t *testing.T) {
	tests := []struct {
		name     string
		a, b     []float64
		conf     float64
		estimate float64
		low      float64
		high     float64
		coverage float64
		reached  bool
	}{
		// 3 vs 3 reaches 90% exactly with the widest interval.
		{"shift of 10", []float64{10, 11, 12}, []float64{20, 21, 22}, 0.9, 10, 8, 12, 0.9, true},
		{"equal samples", []float64{5, 6, 7}, []float64{5, 6, 7}, 0.9, 0, -2, 2, 0.9, true},
		{"constant", []float64{0, 0, 0}, []float64{0, 0, 0}, 0.9, 0, 0, 0, 0.9, true},
		// 2 vs 2 cannot reach 90%: the interval is every difference.
		{"too few", []float64{1, 2}, []float64{10, 11}, 0.9, 9, 8, 10, 2. / 3, false},
		// 4 vs 4: P(U <= 0) = 1/70, P(U <= 1) = 2/70, both below 5%.
		{"4 vs 4", []float64{1, 2, 3, 4}, []float64{11, 12, 13, 14}, 0.9, 10, 8, 12, 1 - 4./70, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sh, err := ShiftCI(tc.a, tc.b, tc.conf)
			if err != nil {
				t.Fatal(err)
			}
			if sh.Estimate != tc.estimate || sh.Low != tc.low || sh.High != tc.high ||
				math.Abs(sh.Confidence-tc.coverage) > 1e-9 || sh.Reached != tc.reached {
				t.Errorf("got %+v, want estimate %v [%v, %v] at %v reached %v", sh, tc.estimate, tc.low, tc.high, tc.coverage, tc.reached)
			}
		})
	}
	if _, err := ShiftCI(nil, []float64{1}, 0.9); err == nil {
		t.Error("empty sample accepted")
	}
	if _, err := ShiftCI([]float64{1}, []float64{1}, 1); err == nil {
		t.Error("confidence 1 accepted")
	}
}

// TestShiftCICoverage draws many pairs of samples: with no shift the
// interval misses 0 no more often than it promises, and a shift of three
// standard deviations is found nearly always.
func TestShiftCICoverage(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	draw := func(n int, shift float64) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = 100 + shift + 10*rng.NormFloat64()
		}
		return v
	}
	tests := []struct {
		n          int
		shift      float64
		minFound   float64 // share of intervals above 0
		maxMissed0 float64 // share of intervals excluding 0 (no shift)
	}{
		{n: 3, shift: 0, maxMissed0: 0.13},
		{n: 5, shift: 0, maxMissed0: 0.13},
		{n: 5, shift: 30, minFound: 0.95},
		{n: 10, shift: 20, minFound: 0.95},
	}
	for _, tc := range tests {
		const trials = 2000
		found, excluded := 0, 0
		for range trials {
			sh, err := ShiftCI(draw(tc.n, 0), draw(tc.n, tc.shift), 0.9)
			if err != nil {
				t.Fatal(err)
			}
			if sh.Low > 0 {
				found++
			}
			if sh.Low > 0 || sh.High < 0 {
				excluded++
			}
		}
		if tc.shift == 0 && float64(excluded)/trials > tc.maxMissed0 {
			t.Errorf("n=%d no shift: %d of %d intervals exclude 0", tc.n, excluded, trials)
		}
		if tc.shift > 0 && float64(found)/trials < tc.minFound {
			t.Errorf("n=%d shift %v: found in %d of %d", tc.n, tc.shift, found, trials)
		}
	}
}

// TestJudge checks the verdicts over reports: a latency shift beyond the
// margin is worse, a smaller one or noise is not, a drop is better, and a
// metric without data says so.
func TestJudge(t *testing.T) {
	mk := func(p50s ...float64) []*report.Report {
		var rs []*report.Report
		for _, v := range p50s {
			r := &report.Report{}
			r.UpdateLatency.Count, r.UpdateLatency.P50 = 100, v
			rs = append(rs, r)
		}
		return rs
	}
	tests := []struct {
		name string
		a, b []*report.Report
		want string
	}{
		{"worse by 300ms", mk(0.010, 0.012, 0.011), mk(0.31, 0.32, 0.305), Worse},
		{"better by half", mk(0.200, 0.210, 0.205), mk(0.100, 0.105, 0.102), Better},
		{"shift within the 5ms floor", mk(0.010, 0.011, 0.012), mk(0.013, 0.014, 0.015), NoChange},
		{"same values", mk(0.010, 0.011, 0.012), mk(0.010, 0.011, 0.012), NoChange},
		{"overlapping noise", mk(0.100, 0.200, 0.150), mk(0.120, 0.220, 0.160), NoChange},
		{"two runs cannot tell", mk(0.010, 0.011), mk(0.31, 0.32), NoChange},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ms, err := Judge(tc.a, tc.b, 0.9, 0.1)
			if err != nil {
				t.Fatal(err)
			}
			var p50 *MetricResult
			for i := range ms {
				if ms[i].Metric == "update latency p50" {
					p50 = &ms[i]
				}
			}
			if p50 == nil || p50.Verdict != tc.want || p50.Regression != (tc.want == Worse) {
				t.Fatalf("update latency p50: %+v, want %s", p50, tc.want)
			}
			for _, m := range ms {
				switch {
				case m.Metric == "fanout completion p99" && m.Verdict != NoData:
					t.Errorf("fanout without data: %s", m.Verdict)
				case m.Metric == "missed streams" && m.Verdict != NoChange:
					// zero in every run on both sides
					t.Errorf("missed streams: %s", m.Verdict)
				}
			}
		})
	}
}
