package main

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/dstload/dstload/provision"
	"github.com/dstload/dstload/provision/local"
	"github.com/dstload/dstload/provision/local/localtest"
)

func TestUpDownStatusBadInput(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	busy := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	emptyBinDir := t.TempDir()
	corrupt := t.TempDir()
	if err := os.MkdirAll(filepath.Join(corrupt, "dstload"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(corrupt, "dstload", provision.StateFileName), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		stateDir string
		args     []string
		want     string
		// path, when set, replaces PATH.
		path string
	}{
		{"unknown provider", "", []string{"up", "--provider", "nosuch"}, "--provider local", ""},
		{"zero nodes", "", []string{"up", "--provider", "local", "--nodes", "0"}, "--nodes", ""},
		{"both destinations", "", []string{"up", "--provider", "local", "--no-stack", "--destination-bin", "/bin/true", "--destination-addr", "127.0.0.1:1"}, "exclude each other", ""},
		{"kubeconfig without context", "", []string{"up", "--provider", "kubeconfig", "--no-stack"}, "--context", ""},
		{"missing binaries", "", []string{"up", "--provider", "local", "--no-stack", "--bin-dir", emptyBinDir}, "missing", ""},
		{"api port in use", "", []string{"up", "--provider", "local", "--no-stack", "--api-port", busy}, "in use", ""},
		{"corrupt state: up", corrupt, []string{"up", "--provider", "local", "--no-stack"}, "unreadable", ""},
		{"corrupt state: down", corrupt, []string{"down"}, "unreadable", ""},
		{"corrupt state: status", corrupt, []string{"status"}, "unreadable", ""},
		{"bad output", "", []string{"status", "-o", "xml"}, "--output", ""},
		{"monitoring: no such prometheus", "", []string{"up", "--provider", "local", "--monitoring", "--prometheus-bin", "/nonexistent"},
			"--prometheus-bin /nonexistent is not an executable file; pass --prometheus-bin PATH or install it (apt-get install prometheus)", ""},
		{"monitoring: no prometheus on PATH", "", []string{"up", "--provider", "local", "--monitoring"},
			"no prometheus binary on PATH; pass --prometheus-bin PATH or install it (apt-get install prometheus)", emptyBinDir},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "api port in use" {
				localtest.RequireBinaries(t) // the port is checked once binaries are found
			}
			if tc.path != "" {
				t.Setenv("PATH", tc.path)
			}
			dir := tc.stateDir
			if dir == "" {
				dir = t.TempDir()
			}
			code, _, errOut := runCLI(t, append([]string{"--state-dir", dir}, tc.args...)...)
			lines := strings.Split(strings.TrimSpace(errOut), "\n")
			if code != exitUsage || len(lines) != 1 || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, stderr %q: want exit %d and one line containing %q", code, errOut, exitUsage, tc.want)
			}
			if tc.stateDir == "" {
				// Refused input creates nothing.
				if entries, _ := os.ReadDir(dir); len(entries) != 0 {
					t.Fatalf("state dir not empty after refused up: %v", entries)
				}
			}
		})
	}
}

func TestDownWithNothing(t *testing.T) {
	code, out, errOut := runCLI(t, "--state-dir", t.TempDir(), "down")
	if code != 0 || !strings.Contains(out, "nothing to remove") {
		t.Fatalf("exit %d out %q err %q", code, out, errOut)
	}
	code, out, _ = runCLI(t, "--state-dir", t.TempDir(), "status")
	if code != 0 || !strings.Contains(out, "does not exist") {
		t.Fatalf("status of nothing: exit %d out %q", code, out)
	}
}

// TestUpStatusDownLocal drives the real local provider through the CLI.
func TestUpStatusDownLocal(t *testing.T) {
	localtest.RequireBinaries(t)
	dir := t.TempDir()
	args := func(a ...string) []string { return append([]string{"--state-dir", dir, "--name", "cli"}, a...) }
	// An unreachable image: the offline path (cluster up, no destination).
	// No --provider and no Docker: up picks local and says why.
	t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(t.TempDir(), "no-docker.sock"))
	t.Setenv("DOCKER_CONTEXT", "")
	t.Setenv(local.DestinationBinEnv, "")
	up := args("up", "--no-stack", "--nodes", "2", "--destination-image", "127.0.0.1:1/linkerd/controller:edge-26.8.3")
	t.Cleanup(func() { runCLI(t, args("down")...) })
	code, out, errOut := runCLI(t, up...)
	if code != 0 || !strings.Contains(out, "is up (provider local)") || !strings.Contains(out, "--destination-bin") || !strings.Contains(out, "--destination-addr") ||
		!strings.Contains(errOut, "provider local: Docker is not reachable") {
		t.Fatalf("up: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, up...)
	if code != 0 || !strings.Contains(out, "already up") || !strings.Contains(errOut, "provider local: the environment's recorded provider") {
		t.Fatalf("second up: exit %d %s %s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, args("status", "-o", "json")...)
	if code != 0 {
		t.Fatalf("status: exit %d %s %s", code, out, errOut)
	}
	var r provision.StatusReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if !r.Healthy || len(r.Clusters) != 1 || r.Clusters[0].Kubeconfig == "" {
		t.Fatalf("status report %+v", r)
	}
	pids := 0
	for _, c := range r.Components {
		if c.PID > 0 {
			pids++
			if c.Address == "" || c.Health != provision.Healthy {
				t.Errorf("component %+v", c)
			}
		}
	}
	if pids != 5 {
		t.Fatalf("%d processes in status, want 5", pids)
	}

	// Adding a destination controller to the running environment, then
	// swapping it for an external address.
	standin := filepath.Join(t.TempDir(), "controller")
	if b, err := exec.Command("go", "build", "-o", standin, "../../provision/local/internal/standin").CombinedOutput(); err != nil {
		t.Fatalf("build stand-in: %v\n%s", err, b)
	}
	code, out, errOut = runCLI(t, args("up", "--provider", "local", "--no-stack", "--destination-bin", standin)...)
	if code != 0 || !strings.Contains(out, "destination controller: 127.0.0.1:") {
		t.Fatalf("up --destination-bin: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, _ = runCLI(t, args("up", "--provider", "local", "--no-stack", "--destination-bin", standin)...)
	if code != 0 || !strings.Contains(out, "already up") {
		t.Fatalf("repeated up --destination-bin: exit %d %s", code, out)
	}
	code, out, errOut = runCLI(t, args("up", "--provider", "local", "--no-stack", "--destination-addr", "127.0.0.1:1")...)
	if code != 0 || !strings.Contains(out, "destination controller: 127.0.0.1:1") {
		t.Fatalf("up --destination-addr: exit %d\n%s\n%s", code, out, errOut)
	}
	// Nothing listens on port 1: status reports it and fails.
	code, out, _ = runCLI(t, args("status")...)
	if code != exitFailure || !strings.Contains(out, "127.0.0.1:1") || !strings.Contains(out, "unhealthy") {
		t.Fatalf("status with a dead external destination: exit %d\n%s", code, out)
	}

	code, out, errOut = runCLI(t, args("down")...)
	if code != 0 || !strings.Contains(out, "removed") {
		t.Fatalf("down: exit %d %s %s", code, out, errOut)
	}
	code, out, _ = runCLI(t, args("status")...)
	if code != 0 || !strings.Contains(out, "does not exist") {
		t.Fatalf("status after down: exit %d %s", code, out)
	}
}

// Docker that cannot be used is a runtime failure (exit 1), not bad input;
// a remote daemon is a setting this provider cannot work with (exit 2).
// Either way nothing is left behind.
func TestUpK3dDockerProblems(t *testing.T) {
	for _, tc := range []struct {
		name, dockerHost string
		code             int
		want             string
	}{
		{"no daemon", "unix://" + filepath.Join(t.TempDir(), "none.sock"), exitFailure, "start Docker"},
		{"remote daemon", "tcp://192.0.2.7:2376", exitUsage, "remote daemon tcp://192.0.2.7:2376"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("DOCKER_HOST", tc.dockerHost)
			t.Setenv("DOCKER_CONFIG", t.TempDir())
			t.Setenv("DOCKER_CONTEXT", "")
			dir := t.TempDir()
			code, _, errOut := runCLI(t, "--state-dir", dir, "up", "--provider", "k3d", "--no-stack")
			if code != tc.code || strings.Count(strings.TrimSpace(errOut), "\n") != 0 || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, stderr %q: want exit %d and one line containing %q", code, errOut, tc.code, tc.want)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Fatalf("state dir not empty: %v", entries)
			}
		})
	}
}
