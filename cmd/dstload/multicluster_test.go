package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/dstload/dstload/provision"
)

// A multicluster scenario asked of a one-cluster environment is bad input:
// one line naming the fix, exit 2, before anything is deployed.
func TestMulticlusterScenarioNeedsTwoClusters(t *testing.T) {
	dir := t.TempDir()
	st := &provision.State{Name: "one", Provider: "local", Phase: provision.PhaseReady,
		Capabilities: &provision.Capabilities{ClockSource: "single host clock"},
		Clusters:     []provision.Cluster{{Name: "one", Kubeconfig: filepath.Join(dir, "kubeconfig"), DestinationAddr: "127.0.0.1:1"}}}
	if err := provision.SaveState(filepath.Join(dir, "one"), st); err != nil {
		t.Fatal(err)
	}
	for _, sc := range []string{"remote-discovery", "federated"} {
		code, stdout, stderr := runCLI(t, "run", sc, "--state-dir", dir, "--name", "one")
		if code != 2 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, "--clusters 2") ||
			!strings.Contains(stderr, "scenario "+sc+" is multicluster ("+sc+")") {
			t.Errorf("%s: exit %d, want 2 and one line naming --clusters 2\nstdout: %s\nstderr: %s", sc, code, stdout, stderr)
		}
	}
}

func TestUpClustersOutOfRange(t *testing.T) {
	for _, n := range []string{"0", "3"} {
		code, _, stderr := runCLI(t, "up", "--clusters", n, "--state-dir", t.TempDir())
		if code != 2 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, "use 1 (one cluster) or 2") {
			t.Errorf("--clusters %s: exit %d, stderr %q; want 2 and one line", n, code, stderr)
		}
	}
}
