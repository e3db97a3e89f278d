// Command standin stands in for Linkerd's controller binary in the local
// provider's supervision tests (test support only; never shipped). It is
// started exactly as the real one (`standin destination -kubeconfig ...
// -addr ... -metrics-addr ...`), insists on what the real one insists on
// (the destination subcommand, HOSTNAME, a kubeconfig that reaches the API
// server, at least one EndpointSlice in the cluster), serves gRPC (the standard health service) on -addr and the admin
// endpoints /ping and /ready on -metrics-addr, and turns ready only after
// it has talked to the API server, as the real one does after its caches
// sync.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "standin:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 || args[0] != "destination" {
		return fmt.Errorf("want subcommand destination, got %q", args)
	}
	fs := flag.NewFlagSet("destination", flag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", "", "")
	addr := fs.String("addr", ":8086", "")
	metricsAddr := fs.String("metrics-addr", ":9996", "")
	ns := fs.String("controller-namespace", "linkerd", "")
	slices := fs.Bool("enable-endpoint-slices", true, "")
	// Accepted and ignored, as the chart passes them.
	for _, name := range []string{"cluster-domain", "identity-trust-domain", "outbound-transport-mode", "default-opaque-ports", "log-level", "log-format"} {
		fs.String(name, "", "")
	}
	for _, name := range []string{"enable-h2-upgrade", "enable-ipv6", "enable-pprof"} {
		fs.Bool(name, false, "")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *slices && os.Getenv("HOSTNAME") == "" {
		return fmt.Errorf("HOSTNAME is not set") // the real controller log.Fatal()s here too
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}

	var ready atomic.Bool
	mux := http.NewServeMux()
	mux.HandleFunc("/ping", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "pong") })
	mux.HandleFunc("/ready", func(w http.ResponseWriter, r *http.Request) {
		if !ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	admin, err := net.Listen("tcp", *metricsAddr)
	if err != nil {
		return err
	}
	go http.Serve(admin, mux)

	// Like the real controller's EndpointSliceAccess check: the API server
	// answers and at least one EndpointSlice exists; it gives up otherwise.
	var lastErr error
	for i := 0; i < 100; i++ {
		var list *discoveryv1.EndpointSliceList
		list, lastErr = cs.DiscoveryV1().EndpointSlices("").List(context.Background(), metav1.ListOptions{Limit: 1})
		if lastErr == nil && len(list.Items) == 0 {
			lastErr = fmt.Errorf("no EndpointSlice in the cluster")
		}
		if lastErr == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if lastErr != nil {
		return fmt.Errorf("EndpointSlice access: %w", lastErr)
	}
	// The real controller keeps its leases and secrets in this namespace.
	if *ns == "" {
		return fmt.Errorf("-controller-namespace is empty")
	}

	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	ready.Store(true)
	return srv.Serve(lis)
}
