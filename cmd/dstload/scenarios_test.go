package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dstload/dstload/workload/report"
)

func TestScenariosCmd(t *testing.T) {
	code, out, errOut := runCLI(t, "scenarios")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"NAME", "baseline", "small-oscillation", "10 svc oscillating 10<->200, hold 2m/5m, jitter 0-5s",
		"p95 < 500ms, p99 < 2s, fanout < 10s", "large-rollout", "many-services", "red-line"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = runCLI(t, "scenarios", "-o", "json")
	var items []map[string]string
	if code != 0 || json.Unmarshal([]byte(out), &items) != nil || len(items) != 5 {
		t.Fatalf("-o json: exit %d, %d items:\n%s", code, len(items), out)
	}
	if code, _, errOut := runCLI(t, "scenarios", "extra"); code != exitUsage || !strings.Contains(errOut, "takes no arguments") {
		t.Errorf("extra arg: exit %d %s", code, errOut)
	}
}

func writeReport(t *testing.T, dir, name string, r *report.Report) string {
	t.Helper()
	p := filepath.Join(dir, name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := report.WriteJSON(f, r); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCompareCmd(t *testing.T) {
	dir := t.TempDir()
	base := func() *report.Report {
		return &report.Report{
			SchemaVersion: report.SchemaVersion, Verdict: report.Pass,
			Scenario:      report.Scenario{Name: "small-oscillation", Shape: "s"},
			UpdateLatency: report.Quantiles{Count: 100, P50: 0.02, P95: 0.1, P99: 0.2, P999: 0.3, Max: 0.4},
		}
	}
	a := writeReport(t, dir, "a.json", base())
	same := writeReport(t, dir, "same.json", base())
	slow := base()
	slow.Verdict = report.Fail
	slow.UpdateLatency.P99 = 1.5
	b := writeReport(t, dir, "b.json", slow)
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"schemaVersion": 9}`), 0o600)

	tests := []struct {
		name     string
		args     []string
		code     int
		out, err string
	}{
		{"no regression", []string{"compare", a, same, "--fail-on-regression"}, 0, "no regression beyond 10% tolerance", ""},
		{"regression reported", []string{"compare", a, b}, 0, "REGRESSION", ""},
		{"regression fails", []string{"compare", a, b, "--fail-on-regression"}, exitCriteria, "update latency p99", "2 regression(s) in"},
		{"wide tolerance still flags verdict", []string{"compare", a, b, "--tolerance", "1000%", "--fail-on-regression"}, exitCriteria, "", "1 regression(s)"},
		{"json", []string{"compare", a, b, "-o", "json"}, 0, `"regressions": 2`, ""},
		{"bad tolerance", []string{"compare", a, b, "--tolerance", "lots"}, exitUsage, "", "invalid --tolerance"},
		{"bad file", []string{"compare", a, bad}, exitUsage, "", "schemaVersion 9, this dstload reads 1"},
		{"one arg", []string{"compare", a}, exitUsage, "", "takes 2 argument(s)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, tt.args...)
			if code != tt.code || !strings.Contains(out, tt.out) || !strings.Contains(errOut, tt.err) {
				t.Fatalf("exit %d (want %d)\nstdout:\n%s\nstderr:\n%s", code, tt.code, out, errOut)
			}
		})
	}
}
func TestRunRejects(t *testing.T) {
	dir := t.TempDir()
	broken := filepath.Join(dir, "broken.yaml")
	os.WriteFile(broken, []byte("name: broken\nservices: {count: 1}\nchurn: {pattern: oscillate, min: 10, max: 5, holdMax: 1s, holdMin: 1s, cycles: 1}\nclients: {streams: 1}\ncriteria: [{metric: stream_errors, max: 0}]\n"), 0o600)
	unknown := filepath.Join(dir, "unknown.yaml")
	os.WriteFile(unknown, []byte("name: u\nservices: {count: 1, endpoint: 3}\n"), 0o600)
	state := []string{"--state-dir", filepath.Join(dir, "state")}
	tests := []struct {
		name string
		args []string
		code int
		err  string
	}{
		{"no scenario", []string{"run"}, exitUsage, "takes 1 argument(s)"},
		{"unknown scenario", []string{"run", "nope"}, exitUsage, `no such scenario "nope": use one of baseline`},
		{"malformed file", []string{"run", broken}, exitUsage, "scenario broken: churn.max: must be > churn.min (10), got 5"},
		{"unknown field", []string{"run", unknown}, exitUsage, "services.endpoint (line 2): unknown field"},
		{"bad hold", []string{"run", "small-oscillation", "--hold", "1s,2s,3s"}, exitUsage, "invalid --hold"},
		{"bad scale", []string{"run", "baseline", "--scale", "-1"}, exitUsage, "invalid --scale"},
		{"cycles on stable", []string{"run", "baseline", "--cycles", "2"}, exitUsage, "scenario baseline: churn.cycles: only applies to churn.pattern oscillate"},
		{"bad plot format", []string{"run", "baseline", "--plot-format", "gif"}, exitUsage, "invalid --plot-format"},
		{"no environment", append([]string{"run", "baseline", "--scale", "0.05"}, state...), exitFailure, "no environment \"dstload\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runCLI(t, tt.args...)
			if code != tt.code || !strings.Contains(errOut, tt.err) {
				t.Fatalf("exit %d (want %d): %s\nwant %q", code, tt.code, errOut, tt.err)
			}
		})
	}
}

func TestParseHold(t *testing.T) {
	tests := []struct {
		in         string
		max, min   string
		wantErrSub string
	}{
		{"", "0s", "0s", ""},
		{"20s", "20s", "20s", ""},
		{"20s,40s", "20s", "40s", ""},
		{"20s, 1m", "20s", "1m0s", ""},
		{"0s", "", "", "invalid --hold"},
		{"x", "", "", "invalid --hold"},
	}
	for _, tt := range tests {
		hmax, hmin, err := parseHold(tt.in)
		if tt.wantErrSub != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErrSub) {
				t.Errorf("%q: err %v", tt.in, err)
			}
			continue
		}
		if err != nil || hmax.String() != tt.max || hmin.String() != tt.min {
			t.Errorf("%q: %s %s %v", tt.in, hmax, hmin, err)
		}
	}
}
