package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dstload/dstload/provision"
	"github.com/dstload/dstload/provision/local"
	"github.com/dstload/dstload/provision/local/localtest"
	"github.com/dstload/dstload/workload/ab"
	"github.com/dstload/dstload/workload/report"
)

// abSmall is small-oscillation at CI scale: one service, two events a run.
var abSmall = []string{"small-oscillation", "--scale", "0.05", "--cycles", "1", "--hold", "3s", "--settle", "20s",
	"--metrics-interval", "500ms", "--ready-timeout", "2m"}

// TestABBadInput: each bad input is one line naming the fix, exit 2, and
// nothing is made (no output directory, no environment).
func TestABBadInput(t *testing.T) {
	dir := t.TempDir()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	notExec := filepath.Join(dir, "plain")
	if err := os.WriteFile(notExec, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"missing binary", []string{"small-oscillation", "--a", exe, "--b", filepath.Join(dir, "nope"), "--repeat", "3"}, "--b " + filepath.Join(dir, "nope") + ": no such file"},
		{"not executable", []string{"small-oscillation", "--a", notExec, "--b", exe, "--repeat", "3"}, "is not an executable file"},
		{"no --b", []string{"small-oscillation", "--a", exe, "--repeat", "3"}, "--b is required"},
		{"repeat 1", []string{"small-oscillation", "--a", exe, "--b", exe, "--repeat", "1"}, "--repeat 1: an A/B needs at least 2 runs per side"},
		{"no repeat", []string{"small-oscillation", "--a", exe, "--b", exe}, "--repeat 0"},
		{"unknown scenario", []string{"no-such-scenario", "--a", exe, "--b", exe, "--repeat", "3"}, `no such scenario "no-such-scenario"`},
		{"arg for an address", []string{"baseline", "--a", exe, "--b", "127.0.0.1:8086", "--b-arg=-x=1", "--repeat", "3"}, "--b-arg needs a controller dstload runs"},
		{"arg not a flag", []string{"baseline", "--a", exe, "--a-arg", "queue", "--b", exe, "--repeat", "3"}, `--a-arg "queue" is not a flag`},
		{"bad confidence", []string{"baseline", "--a", exe, "--b", exe, "--repeat", "3", "--confidence", "1"}, "--confidence 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"ab"}, tc.args...)
			code, stdout, stderr := runCLI(t, append(args, "--out", out, "--state-dir", dir, "--name", "none")...)
			if code != exitUsage || !strings.Contains(stderr, tc.want) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
				t.Fatalf("exit %d, stderr %q (want exit 2 and one line with %q); stdout %q", code, stderr, tc.want, stdout)
			}
			for _, p := range []string{out, filepath.Join(dir, "none")} {
				if _, err := os.Stat(p); !os.IsNotExist(err) {
					t.Errorf("%s exists after bad input", p)
				}
			}
		})
	}
}

func readAB(t *testing.T, dir string, code int, stdout, stderr string) *ab.Result {
	t.Helper()
	res, err := ab.ReadFile(filepath.Join(dir, ab.JSONFile))
	if err != nil {
		t.Fatalf("exit %d, no ab.json: %v\nstdout:\n%s\nstderr:\n%s", code, err, stdout, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, ab.MarkdownFile)); err != nil {
		t.Error(err)
	}
	// Interleaved A B, B A, ..., each run's report beside.
	if len(res.Runs) != 2*res.Repeat {
		t.Fatalf("%d runs for --repeat %d", len(res.Runs), res.Repeat)
	}
	for i, r := range res.Runs {
		if want := []string{"a", "b", "b", "a"}[i%4]; r.Side != want || r.Repeat != i/2+1 {
			t.Errorf("run %d is %s repeat %d, want %s repeat %d", i+1, r.Side, r.Repeat, want, i/2+1)
		}
		if _, err := report.ReadFile(filepath.Join(dir, r.Dir, report.JSONFile)); err != nil {
			t.Errorf("run %d: %v", i+1, err)
		}
	}
	for _, m := range res.Metrics {
		if len(m.A) != res.Repeat || len(m.B) != res.Repeat {
			t.Errorf("%s: %d and %d per-run values for --repeat %d", m.Metric, len(m.A), len(m.B), res.Repeat)
		}
	}
	// Progress: side, repeat, elapsed, time left.
	for _, want := range []string{"ab: run 1/", "side B, repeat 1/", "left ~", "A-1 [", "B-1 ["} {
		if !strings.Contains(stderr, want) {
			t.Errorf("progress lacks %q", want)
		}
	}
	var took []string
	for _, r := range res.Runs {
		took = append(took, fmt.Sprintf("%s%d %.1fs", r.Side, r.Repeat, r.Seconds))
	}
	t.Logf("%s\nruns: %s", stdout, strings.Join(took, ", "))
	return res
}

func metric(t *testing.T, res *ab.Result, name string) ab.MetricResult {
	t.Helper()
	for _, m := range res.Metrics {
		if m.Metric == name {
			return m
		}
	}
	t.Fatalf("no metric %q in ab.json", name)
	return ab.MetricResult{}
}

// TestABRealDestination runs `dstload ab` with Linkerd's real controller
// against itself (every metric: no significant change) and against itself
// with another -stream-queue-capacity (it runs, and says what it found),
// then checks the environment got its own controller back.
func TestABRealDestination(t *testing.T) {
	localtest.RequireBinaries(t)
	bin := localtest.RealDestination(t)
	dir, out := t.TempDir(), t.TempDir()
	env := []string{"--state-dir", dir, "--name", "ab"}
	t.Cleanup(func() { runCLI(t, append([]string{"down"}, env...)...) })
	if code, stdout, stderr := runCLI(t, append([]string{"up", "--provider", "local", "--nodes", "1", "--destination-bin", bin}, env...)...); code != 0 {
		t.Fatalf("up: exit %d\n%s\n%s", code, stdout, stderr)
	}
	controller := func(t *testing.T) provision.Process {
		st, err := provision.LoadState(filepath.Join(dir, "ab"))
		if err != nil {
			t.Fatal(err)
		}
		p := st.Process("", local.Destination)
		if p == nil {
			t.Fatal("no destination controller recorded")
		}
		return *p
	}
	abCLI := func(t *testing.T, outDir string, args ...string) (int, string, string) {
		start := time.Now()
		a := append(append([]string{"ab"}, abSmall...), args...)
		code, stdout, stderr := runCLI(t, append(append(a, "--out", outDir), env...)...)
		t.Logf("dstload ab %s: exit %d in %s", strings.Join(args, " "), code, time.Since(start).Round(time.Second))
		return code, stdout, stderr
	}

	t.Run("A-vs-A", func(t *testing.T) {
		before := controller(t)
		o := filepath.Join(out, "ava")
		// 4 runs per side at 95%: a metric is significant only when every
		// B run lies beyond every A run (2.9% by chance, each way).
		code, stdout, stderr := abCLI(t, o, "--a", bin, "--b", bin, "--repeat", "4", "--confidence", "0.95", "--fail-on-regression")
		res := readAB(t, o, code, stdout, stderr)
		if code != 0 || !res.AVsA || res.Regressions != 0 {
			t.Errorf("exit %d, aVsA %v, regressions %d", code, res.AVsA, res.Regressions)
		}
		for _, m := range res.Metrics {
			if m.Judged && m.Verdict != ab.NoChange {
				t.Errorf("A-vs-A %s: %s (A %v, B %v, shift %+v, margin %v)", m.Metric, m.Verdict, deref(m.A), deref(m.B), m.Shift, m.Margin)
			}
		}
		if m := metric(t, res, "update latency p50"); m.Shift == nil || !m.Shift.Reached || m.Shift.Confidence < 0.95 {
			t.Errorf("update latency p50 has no 95%% interval: %+v", m)
		}
		// Every run started its own controller; the environment's is
		// started again at the end with its own flags.
		after := controller(t)
		if after.PID == before.PID || after.Cmdline[0] != bin || len(after.Cmdline) != len(before.Cmdline) {
			t.Errorf("controller after the A/B: pid %d (was %d), %v", after.PID, before.PID, after.Cmdline)
		}
	})

	t.Run("queue capacity", func(t *testing.T) {
		const arg = "-stream-queue-capacity=2"
		o := filepath.Join(out, "queue")
		code, stdout, stderr := abCLI(t, o, "--a", bin, "--b", bin, "--b-arg="+arg, "--repeat", "2")
		res := readAB(t, o, code, stdout, stderr)
		if code != 0 || res.AVsA || !slices.Equal(res.Sides["b"].Args, []string{arg}) {
			t.Fatalf("exit %d, aVsA %v, sides %+v", code, res.AVsA, res.Sides)
		}
		// Two runs per side cannot reach 90%, and ab says so.
		if !strings.Contains(strings.Join(res.Warnings, "\n"), "no interval reaches 90% confidence") {
			t.Errorf("warnings %q", res.Warnings)
		}
		rb, err := report.ReadFile(filepath.Join(o, res.Runs[1].Dir, report.JSONFile))
		if err != nil || !slices.Contains(rb.Environment.DestinationArgs, arg) {
			t.Errorf("B's report: %v, environment %+v", err, rb.Environment)
		}
		if slices.Contains(controller(t).Cmdline, arg) {
			t.Error("the environment kept B's flag after the A/B")
		}
	})
}

func deref(v []*float64) []any {
	out := make([]any, len(v))
	for i, x := range v {
		if x != nil {
			out[i] = *x
		}
	}
	return out
}

// TestABInjectedDelay is an A/B of two controllers the user runs (the
// test Destination server, B holding back every update 300ms): update
// latency comes out worse and --fail-on-regression exits 3.
func TestABInjectedDelay(t *testing.T) {
	c := localtest.Start(t, localtest.Options{Nodes: 1})
	const ns = "dstload-run"
	da, db := startTestDestination(t, c, ns), startTestDestination(t, c, ns)
	db.srv.SetDelay(300 * time.Millisecond)
	o := filepath.Join(t.TempDir(), "delay")
	args := append(append([]string{"ab"}, abSmall...), "--a", da.addr, "--a-metrics", da.metricsURL,
		"--b", db.addr, "--b-metrics", db.metricsURL, "--repeat", "3", "--fail-on-regression", "--out", o,
		"--state-dir", filepath.Dir(c.Dir), "--name", filepath.Base(c.Dir))
	code, stdout, stderr := runCLI(t, args...)
	res := readAB(t, o, code, stdout, stderr)
	if code != exitCriteria || res.Regressions == 0 {
		t.Fatalf("exit %d, regressions %d; want exit %d", code, res.Regressions, exitCriteria)
	}
	for _, name := range []string{"update latency p50", "update latency p99"} {
		m := metric(t, res, name)
		if m.Verdict != ab.Worse || !m.Regression || m.Shift.Low < 0.2 {
			t.Errorf("%s: %s, shift %+v", name, m.Verdict, m.Shift)
		}
	}
	if !strings.Contains(stderr, "significantly worse on side B") {
		t.Errorf("no regression line in stderr:\n%s", stderr)
	}
}
