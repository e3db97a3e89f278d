package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dstload/dstload/provision"
	"github.com/dstload/dstload/provision/local/localtest"
)

func TestEnvFileRejected(t *testing.T) {
	dir := t.TempDir()
	head := "apiVersion: dstload.io/v1alpha1\nkind: Environment\n"
	tests := []struct{ name, body, want string }{
		{"empty", "", "is empty"},
		{"not yaml", "provider: [local\n", "line"},
		{"wrong apiVersion", "apiVersion: v1\nkind: Environment\n", "apiVersion: want dstload.io/v1alpha1"},
		{"wrong kind", "apiVersion: dstload.io/v1alpha1\nkind: Cluster\n", "kind: want Environment"},
		{"unknown field", head + "provder: local\n", `line 3: field provder not found`},
		{"unknown nested field", head + "destination:\n  binary: /x\n", `line 4: field binary not found`},
		{"wrong type", head + "nodes: many\n", "line 3"},
		{"negative nodes", head + "nodes: -1\n", "nodes: must be 1 or more"},
		{"port out of range", head + "apiPort: 70000\n", "apiPort: must be a port"},
		{"bad duration", head + "stack:\n  readyTimeout: soon\n", "line 4"},
		{"unknown release", head + "stack:\n  chartVersions:\n    nginx: 1.0.0\n", `unknown release "nginx"`},
		{"unknown provider", head + "provider: kind\n", "--provider"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-")+".yaml")
			os.WriteFile(p, []byte(tt.body), 0o600)
			state := t.TempDir()
			code, _, errOut := runCLI(t, "up", "--state-dir", state, "--config", p)
			if code != exitUsage || !strings.Contains(errOut, tt.want) || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
				t.Errorf("exit %d, stderr %q; want exit 2 and one line with %q", code, errOut, tt.want)
			}
			if entries, _ := os.ReadDir(state); len(entries) != 0 {
				t.Errorf("refused up left %v", entries)
			}
		})
	}
	if code, _, errOut := runCLI(t, "up", "--state-dir", t.TempDir(), "--config", filepath.Join(dir, "none.yaml")); code != exitUsage || !strings.Contains(errOut, "no such file") {
		t.Errorf("missing file: exit %d %s", code, errOut)
	}
}

// TestEnvFileRoundTrip: the file `env export` prints makes the same
// environment again on a fresh state dir, and exports the same file.
func TestEnvFileRoundTrip(t *testing.T) {
	localtest.RequireBinaries(t)
	bin := localtest.RealDestination(t)
	first, second := t.TempDir(), t.TempDir()
	in := func(state string, args ...string) []string { return append(args, "--state-dir", state, "--name", "rt") }
	t.Cleanup(func() { runCLI(t, in(first, "down")...); runCLI(t, in(second, "down")...) })

	code, out, errOut := runCLI(t, in(first, "up", "--provider", "local", "--nodes", "1", "--destination-bin", bin, "--destination-arg=-stream-queue-capacity=50",
		"--chart-version", "linkerd-crds=2026.8.3")...)
	if code != 0 {
		t.Fatalf("up: exit %d\n%s\n%s", code, out, errOut)
	}
	code, exported, errOut := runCLI(t, in(first, "env", "export")...)
	if code != 0 {
		t.Fatalf("env export: exit %d %s", code, errOut)
	}
	for _, want := range []string{"provider: local", "nodes: 1", "bin: " + bin, "- -stream-queue-capacity=50", "linkerd-control-plane: 2026.8.3", "kwok:"} {
		if !strings.Contains(exported, want) {
			t.Errorf("export lacks %q:\n%s", want, exported)
		}
	}
	if code, _, errOut := runCLI(t, in(first, "down")...); code != 0 {
		t.Fatalf("down: %s", errOut)
	}
	file := filepath.Join(t.TempDir(), "env.yaml")
	os.WriteFile(file, []byte(exported), 0o600)
	code, out, errOut = runCLI(t, in(second, "up", "--config", file)...)
	if code != 0 || !strings.Contains(out, "is up (provider local)") {
		t.Fatalf("up --config: exit %d\n%s\n%s", code, out, errOut)
	}
	_, again, _ := runCLI(t, in(second, "env", "export")...)
	if again != exported {
		t.Errorf("the second environment exports differently:\n%s\n---\n%s", exported, again)
	}
	code, js, _ := runCLI(t, in(second, "status", "-o", "json")...)
	var r provision.StatusReport
	if err := json.Unmarshal([]byte(js), &r); err != nil || code != 0 || !r.Healthy {
		t.Fatalf("status after up --config: exit %d %v\n%s", code, err, js)
	}
	processes := 0
	for _, c := range r.Components {
		if c.PID > 0 {
			processes++
		}
	}
	if processes != 6 {
		t.Errorf("%d processes, want 6 (control plane + destination):\n%s", processes, js)
	}
	if len(r.Clusters) != 1 || !strings.Contains(js, "-stream-queue-capacity=50") {
		t.Errorf("destination args not restored:\n%s", js)
	}
}
