package ab

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dstload/dstload/workload/report"
)

// TestExecute drives Execute with synthetic runs: pairs alternate which
// side goes first, every run is prepared before it runs, the files are
// written and read back, and a failed run stops the A/B with its side and
// repeat named.
func TestExecute(t *testing.T) {
	var order []string
	var progress strings.Builder
	dir := t.TempDir()
	cfg := Config{
		A: Side{Bin: "/bin/a"}, B: Side{Bin: "/bin/a", Args: []string{"-x=1"}},
		Repeat: 3, Confidence: 0.9, Tolerance: 0.1, OutDir: dir, Progress: &progress,
		Prepare: func(_ context.Context, name string, _ Side) error {
			order = append(order, "prepare "+name)
			return nil
		},
		RunOne: func(_ context.Context, name string, _ Side, runDir string) (*report.Report, error) {
			order = append(order, "run "+name)
			r := &report.Report{Verdict: report.Pass}
			r.Scenario.Name = "small-oscillation"
			r.UpdateLatency.Count, r.UpdateLatency.P50 = 10, 0.010
			if name == "b" {
				r.UpdateLatency.P50 = 0.5
			}
			return r, os.MkdirAll(runDir, 0o755)
		},
	}
	res, err := Execute(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := "prepare a,run a,prepare b,run b,prepare b,run b,prepare a,run a,prepare a,run a,prepare b,run b"
	if got := strings.Join(order, ","); got != want {
		t.Errorf("order %s\nwant  %s", got, want)
	}
	back, err := ReadFile(filepath.Join(dir, JSONFile))
	if err != nil {
		t.Fatal(err)
	}
	if back.AVsA || back.Regressions != 1 || res.Regressions != 1 || back.Runs[2].Dir != filepath.Join(RunsDir, "b-2") {
		t.Errorf("result: aVsA %v, regressions %d, runs %+v", back.AVsA, back.Regressions, back.Runs)
	}
	md, err := os.ReadFile(filepath.Join(dir, MarkdownFile))
	if err != nil || !strings.Contains(string(md), "WORSE (regression)") || !strings.Contains(string(md), "runs/b-2/report.md") {
		t.Errorf("ab.md (%v):\n%s", err, md)
	}
	for _, w := range []string{"run 1/6: side A, repeat 1/3; elapsed 0s, left unknown", "run 3/6: side B, repeat 2/3", "left ~"} {
		if !strings.Contains(progress.String(), w) {
			t.Errorf("progress lacks %q:\n%s", w, progress.String())
		}
	}

	// A run that cannot be done stops the A/B.
	cfg.OutDir = t.TempDir()
	cfg.RunOne = func(_ context.Context, name string, _ Side, _ string) (*report.Report, error) {
		if name == "b" {
			return nil, errors.New("no streams")
		}
		return &report.Report{}, nil
	}
	if _, err := Execute(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "side B (/bin/a -x=1), repeat 1: no streams") {
		t.Errorf("failed run: %v", err)
	}
	if _, err := os.Stat(filepath.Join(cfg.OutDir, JSONFile)); !os.IsNotExist(err) {
		t.Error("ab.json written for an A/B that did not finish")
	}
	cfg.Repeat = 1
	if _, err := Execute(context.Background(), cfg); err == nil {
		t.Error("--repeat 1 accepted")
	}
}
