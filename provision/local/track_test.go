package local

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dstload/dstload/provision"
)

// TestTracker: a tracked process is alive until it exits (seen through its
// pidfd, before anyone reaps it); one whose identity does not match is
// not alive from the start.
func TestTracker(t *testing.T) {
	p, err := startProcess("sleep", "", []string{"/bin/sleep", "60"}, os.Environ(), filepath.Join(t.TempDir(), "sleep.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stopProcess(context.Background(), p, time.Second) })
	other := provision.Process{PID: p.PID, StartTime: p.StartTime + 1, Cmdline: p.Cmdline}
	tr := Track([]provision.Process{p, other})
	if tr.fds[0] < 0 {
		t.Fatal("no pidfd for a live process of ours")
	}
	if !tr.Alive(0) || tr.Alive(1) {
		t.Fatalf("alive: ours %v (want true), other start time %v (want false)", tr.Alive(0), tr.Alive(1))
	}
	if err := stopProcess(context.Background(), p, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if tr.Alive(0) {
		t.Fatal("tracked process alive after it was stopped")
	}
}
