package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"testing"
)

// asCLI makes the test binary act as dstload itself: `dstload run` starts
// its observer as a child process of its own executable, which in these
// tests is this binary.
const asCLI = "DSTLOAD_TEST_AS_CLI"

func TestMain(m *testing.M) {
	if os.Getenv(asCLI) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	// Children (the observer) inherit it.
	os.Setenv(asCLI, "1")
	os.Exit(m.Run())
}
