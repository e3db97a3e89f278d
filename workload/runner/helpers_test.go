package runner

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/dstload/dstload/internal/dsttest"
	"github.com/dstload/dstload/internal/testutil"
)

func testLog(t *testing.T) *slog.Logger { return testutil.Log(t) }

// startDestination runs the test Destination server (the stand-in for
// Linkerd's controller) on 127.0.0.1, serving the cluster's EndpointSlices.
func startDestination(t *testing.T, cs kubernetes.Interface, namespace string, opts dsttest.Options) (*dsttest.Server, string) {
	t.Helper()
	return dsttest.Start(t, testLog(t), cs, namespace, opts)
}

// waitFor polls cond every 200ms until it is true, ctx ends or timeout.
// Unlike testutil.WaitFor it does not fail the test: callers report what
// they waited for with the state they found.
func waitFor(ctx context.Context, timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if ctx.Err() != nil || time.Now().After(deadline) {
			return false
		}
		time.Sleep(200 * time.Millisecond)
	}
	return true
}
