package local

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dstload/dstload/provision/local/controlplane"
)

// TestBuildFromEmbeddedModule builds etcd (the quickest of the five) the way
// a missing binary is built: from the embedded copy of hack/controlplane in
// a scratch directory, into the cache, with progress. It proves the copy is
// a buildable module, not just byte-equal to the original.
func TestBuildFromEmbeddedModule(t *testing.T) {
	if testing.Short() {
		t.Skip("builds etcd (tens of seconds); skipped with -short")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal("no go toolchain: ", err)
	}
	cache := t.TempDir()
	var progress bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := buildBinaries(ctx, goBin, cache, []string{"etcd"}, &progress); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(progress.String(), "[1/1] building etcd") {
		t.Errorf("progress %q", progress.String())
	}
	out, err := exec.Command(filepath.Join(cache, "etcd"), "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("etcd --version: %v: %s", err, out)
	}
	if want := "etcd Version: " + strings.TrimPrefix(controlplane.EtcdVersion, "v"); !strings.Contains(string(out), want) {
		t.Fatalf("etcd --version: %s, want %q", out, want)
	}
	// Only the binary is left: no scratch module, no temporary file.
	matches, _ := filepath.Glob(filepath.Join(cache, "*"))
	hidden, _ := filepath.Glob(filepath.Join(cache, ".*"))
	if len(matches) != 1 || len(hidden) != 0 {
		t.Fatalf("cache holds %v %v, want only etcd", matches, hidden)
	}
}
