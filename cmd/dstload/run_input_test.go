package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dstload/dstload/provision"
)

// TestRunRejects covers what `dstload run` refuses before touching a cluster.
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
		{"zero scale", []string{"run", "baseline", "--scale", "0"}, exitUsage, "invalid --scale"},
		{"cleanup takes no scenario", []string{"run", "baseline", "--cleanup"}, exitUsage, "takes no arguments"},
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

// TestRunNeedsEnvironment covers environments `dstload run` cannot use.
func TestRunNeedsEnvironment(t *testing.T) {
	tests := []struct {
		name string
		st   *provision.State
		want string
	}{
		{"not ready", &provision.State{Name: "e", Provider: "local", Phase: provision.PhaseCreating}, `environment "e" is creating, not ready`},
		{"no cluster", &provision.State{Name: "e", Provider: "local", Phase: provision.PhaseReady}, `environment "e" records no cluster`},
		// The in-cluster path needs the recorded cluster.
		{"k3d without its kubeconfig", &provision.State{Name: "e", Provider: "k3d", Phase: provision.PhaseReady,
			Clusters: []provision.Cluster{{Name: "c", Kubeconfig: "/nonexistent/kubeconfig", Context: "x"}}}, "kubeconfig /nonexistent/kubeconfig"},
		{"unknown provider", &provision.State{Name: "e", Provider: "nosuch", Phase: provision.PhaseReady,
			Clusters: []provision.Cluster{{Name: "c", Kubeconfig: "k", Context: "x"}}}, `does not support provider nosuch of environment "e"`},
		{"no destination", &provision.State{Name: "e", Provider: "local", Phase: provision.PhaseReady,
			Clusters: []provision.Cluster{{Name: "c", Kubeconfig: "k", Context: "x"}}}, "'dstload up --destination-bin PATH' or '--destination-addr HOST:PORT'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := provision.SaveState(filepath.Join(dir, "e"), tt.st); err != nil {
				t.Fatal(err)
			}
			code, _, errOut := runCLI(t, "run", "baseline", "--state-dir", dir, "--name", "e")
			if code != exitFailure || !strings.Contains(errOut, tt.want) {
				t.Fatalf("exit %d: %s\nwant %q", code, errOut, tt.want)
			}
		})
	}
}
