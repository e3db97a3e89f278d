// Command dstload is a load-testing tool for Linkerd's destination service:
// it brings up clusters, installs Linkerd, drives churn and client load,
// measures change-to-observation latency and judges scenario criteria.
//
// This package only turns flags into calls; the work lives in certs/,
// provision/ and workload/.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
