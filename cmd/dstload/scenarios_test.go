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
		"p95 < 500ms, p99 < 2s, fanout < 10s", "large-rollout", "many-services", "red-line", "subscriber-cost", "streams stepped 0/250/500/1000/2000", "remote-discovery", "federated"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = runCLI(t, "scenarios", "-o", "json")
	var items []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &items) != nil || len(items) != 8 {
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
