// Package ab is `dstload ab`: one scenario run N times against each of two
// destination controllers, interleaved in pairs (A B, B A, A B, ...) on one
// environment so that drift of the machine hits both sides alike, and every metric that
// compare knows judged over the runs with a confidence interval (stats.go
// says which and why). The result is ab.json (docs/ab.md) and ab.md, with
// each run's own report kept beside them.
//
// The package knows nothing about environments: the caller swaps the
// controller (Config.Prepare) and runs the scenario (Config.RunOne).
package ab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/dstload/dstload/workload/report"
)

// SchemaVersion is ab.json's schema version (docs/ab.md).
const SchemaVersion = 1

// File names in the output directory.
const (
	JSONFile     = "ab.json"
	MarkdownFile = "ab.md"
	RunsDir      = "runs"
)

// Method names the statistics in ab.json.
const Method = "Hodges-Lehmann shift, exact Mann-Whitney confidence interval"

// Side is one destination controller: a binary dstload supervises (with
// extra flags), or the address of one the user runs.
type Side struct {
	Bin  string   `json:"bin,omitempty"`
	Args []string `json:"args,omitempty"`
	// Addr and MetricsURL are a controller the user runs; MetricsURL ""
	// leaves its memory and CPU unmeasured.
	Addr       string `json:"addr,omitempty"`
	MetricsURL string `json:"metricsURL,omitempty"`
}

// String names the side for people: the binary and its flags, or the
// address.
func (s Side) String() string {
	if s.Addr != "" {
		return s.Addr
	}
	return strings.Join(append([]string{s.Bin}, s.Args...), " ")
}

func (s Side) equal(o Side) bool {
	return s.Bin == o.Bin && slices.Equal(s.Args, o.Args) && s.Addr == o.Addr && s.MetricsURL == o.MetricsURL
}

// Config is one A/B.
type Config struct {
	A, B   Side
	Repeat int
	// Confidence is the two-sided interval's level (e.g. 0.9); Tolerance
	// the relative change that counts (0.1 = 10%), over each metric's floor.
	Confidence, Tolerance float64
	OutDir                string
	// Prepare makes side the controller of the next run, freshly started
	// (a restart even when it already runs, so that every run of either
	// side begins alike).
	Prepare func(ctx context.Context, name string, side Side) error
	// RunOne runs the scenario once against side and writes its report
	// into dir.
	RunOne   func(ctx context.Context, name string, side Side, dir string) (*report.Report, error)
	Progress io.Writer
}

// Run is one run of the A/B; Result.Runs lists them in the order they ran.
type Run struct {
	Side    string    `json:"side"`
	Repeat  int       `json:"repeat"`
	Dir     string    `json:"dir"`
	Verdict string    `json:"verdict"`
	Started time.Time `json:"started"`
	Seconds float64   `json:"seconds"`
}

// Result is ab.json.
type Result struct {
	SchemaVersion int       `json:"schemaVersion"`
	Scenario      string    `json:"scenario"`
	Shape         string    `json:"shape"`
	Started       time.Time `json:"started"`
	Seconds       float64   `json:"seconds"`
	Repeat        int       `json:"repeat"`
	Confidence    float64   `json:"confidence"`
	Tolerance     float64   `json:"tolerance"`
	Method        string    `json:"method"`
	// AVsA is true when both sides are the same controller: the result is
	// then the noise floor of this machine and scenario.
	AVsA        bool            `json:"aVsA"`
	Sides       map[string]Side `json:"sides"`
	Runs        []Run           `json:"runs"`
	Metrics     []MetricResult  `json:"metrics"`
	Regressions int             `json:"regressions"`
	Warnings    []string        `json:"warnings,omitempty"`
}

// Validate checks what can be checked before anything runs.
func (c *Config) Validate() error {
	switch {
	case c.Repeat < 2:
		return fmt.Errorf("--repeat %d: an A/B needs at least 2 runs per side (3 or more for a verdict at 90%% confidence)", c.Repeat)
	case !(c.Confidence > 0 && c.Confidence < 1):
		return fmt.Errorf("--confidence %v: use a value between 0 and 1, e.g. 0.9", c.Confidence)
	case c.Tolerance < 0:
		return fmt.Errorf("--tolerance %v: use 0 or more", c.Tolerance)
	case c.Prepare == nil || c.RunOne == nil || c.OutDir == "":
		return errors.New("ab: Prepare, RunOne and OutDir are required")
	}
	return nil
}

// Execute runs the A/B and writes ab.json and ab.md into OutDir. A run that
// could not be done stops it (the finished runs' reports stay in place).
func Execute(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	if err := os.MkdirAll(filepath.Join(cfg.OutDir, RunsDir), 0o755); err != nil {
		return nil, fmt.Errorf("create the A/B's output directory: %w", err)
	}
	res := &Result{SchemaVersion: SchemaVersion, Started: time.Now().UTC(), Repeat: cfg.Repeat,
		Confidence: cfg.Confidence, Tolerance: cfg.Tolerance, Method: Method,
		AVsA: cfg.A.equal(cfg.B), Sides: map[string]Side{"a": cfg.A, "b": cfg.B}}
	sides := []struct {
		name string
		side Side
	}{{"a", cfg.A}, {"b", cfg.B}}
	reports := map[string][]*report.Report{}
	total := 2 * cfg.Repeat
	for i := 1; i <= cfg.Repeat; i++ {
		// A B, then B A: a steady drift of the machine (the API server
		// warming up, a neighbour's build winding down) would otherwise
		// always favour the side that runs second.
		order := sides
		if i%2 == 0 {
			order = slices.Clone(sides)
			slices.Reverse(order)
		}
		for _, s := range order {
			done := len(res.Runs)
			elapsed := time.Since(res.Started)
			left := "unknown until the first run ends"
			if done > 0 {
				left = "~" + (elapsed / time.Duration(done) * time.Duration(total-done)).Round(time.Second).String()
			}
			fmt.Fprintf(cfg.Progress, "ab: run %d/%d: side %s, repeat %d/%d; elapsed %s, left %s\n",
				done+1, total, strings.ToUpper(s.name), i, cfg.Repeat, elapsed.Round(time.Second), left)
			started := time.Now()
			if err := cfg.Prepare(ctx, s.name, s.side); err != nil {
				return nil, fmt.Errorf("side %s (%s), repeat %d: %w", strings.ToUpper(s.name), s.side, i, err)
			}
			dir := filepath.Join(cfg.OutDir, RunsDir, fmt.Sprintf("%s-%d", s.name, i))
			r, err := cfg.RunOne(ctx, s.name, s.side, dir)
			if err != nil {
				return nil, fmt.Errorf("side %s (%s), repeat %d: %w", strings.ToUpper(s.name), s.side, i, err)
			}
			rel, _ := filepath.Rel(cfg.OutDir, dir)
			res.Runs = append(res.Runs, Run{Side: s.name, Repeat: i, Dir: rel, Verdict: r.Verdict,
				Started: started.UTC(), Seconds: time.Since(started).Seconds()})
			reports[s.name] = append(reports[s.name], r)
		}
	}
	first := reports["a"][0]
	res.Scenario, res.Shape = first.Scenario.Name, first.Scenario.Shape
	res.Warnings = warnings(reports["a"], reports["b"])
	if sh, err := ShiftCI(make([]float64, cfg.Repeat), make([]float64, cfg.Repeat), cfg.Confidence); err == nil && !sh.Reached {
		res.Warnings = append(res.Warnings, fmt.Sprintf("with %d runs per side no interval reaches %.0f%% confidence (at most %.0f%%), so no metric can come out better or worse: use more --repeat",
			cfg.Repeat, 100*cfg.Confidence, 100*sh.Confidence))
	}
	var err error
	if res.Metrics, err = Judge(reports["a"], reports["b"], cfg.Confidence, cfg.Tolerance); err != nil {
		return nil, err
	}
	for _, m := range res.Metrics {
		if m.Regression {
			res.Regressions++
		}
	}
	res.Seconds = time.Since(res.Started).Seconds()
	if err := write(cfg.OutDir, res); err != nil {
		return nil, err
	}
	return res, nil
}

// warnings are what makes the runs less comparable than they look.
func warnings(a, b []*report.Report) []string {
	var w []string
	for _, side := range []struct {
		name string
		rs   []*report.Report
	}{{"A", a}, {"B", b}} {
		unreliable := 0
		for _, r := range side.rs {
			if !r.Instrument.Reliable && r.Instrument.UpdateSamples > 0 {
				unreliable++
			}
		}
		if unreliable > 0 {
			w = append(w, fmt.Sprintf("%d of %d %s runs had an unreliable instrument (update latencies may be too small; see their reports)", unreliable, len(side.rs), side.name))
		}
	}
	return w
}

func write(dir string, res *Result) error {
	f, err := os.Create(filepath.Join(dir, JSONFile))
	if err != nil {
		return fmt.Errorf("write %s: %w", JSONFile, err)
	}
	if err := writeJSON(f, res); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", JSONFile, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", JSONFile, err)
	}
	var b strings.Builder
	WriteMarkdown(&b, res)
	if err := os.WriteFile(filepath.Join(dir, MarkdownFile), []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", MarkdownFile, err)
	}
	return nil
}
