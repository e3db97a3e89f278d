// Package testutil holds the helpers every package's tests share, so that
// each is written once: a logger for the code under test and a poll for a
// condition.
package testutil

import (
	"io"
	"log/slog"
	"os"
	"testing"
	"time"
)

// Log is the logger tests hand to the code under test: quiet, unless the
// tests run with -v, when it writes Info and above to stderr.
func Log(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return Discard()
}

// Discard is a logger that writes nothing.
func Discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// WaitFor polls cond every 20 ms and fails the test when it is not true
// within d; what names the condition in the failure.
func WaitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
