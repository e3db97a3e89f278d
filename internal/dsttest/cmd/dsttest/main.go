// Command dsttest runs the test Destination server as a host process, for
// integration tests that need a destination stand-in outside their own
// process. It serves the EndpointSlices of the cluster in -kubeconfig.
//
// Once serving it prints one line to stdout:
//
//	dsttest grpc=127.0.0.1:PORT admin=127.0.0.1:PORT
//
// The admin port answers GET /ready, POST /reset (end every stream with
// Unavailable), POST /overflow (end every stream with status OK) and
// POST /delay?d=250ms.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/dstload/dstload/internal/dsttest"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "dsttest:", err)
		os.Exit(1)
	}
}

func run() error {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the cluster to serve")
	addr := flag.String("addr", "127.0.0.1:0", "gRPC listen address")
	adminAddr := flag.String("admin-addr", "127.0.0.1:0", "admin HTTP listen address")
	delay := flag.Duration("delay", 0, "hold back every update this long")
	namespace := flag.String("namespace", "", "namespace to serve (default all)")
	queue := flag.Int("queue-capacity", 100, "pending updates per stream before it ends with status OK")
	stamp := flag.Bool("stamp", false, "put each Add's send time into its metric labels")
	flag.Parse()
	if *kubeconfig == "" {
		return errors.New("-kubeconfig is required")
	}
	if *delay < 0 {
		return errors.New("-delay must not be negative")
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return fmt.Errorf("load kubeconfig %s: %w", *kubeconfig, err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("kubernetes client: %w", err)
	}
	srv := dsttest.NewServer(dsttest.Options{Delay: *delay, QueueCapacity: *queue, Stamp: *stamp})
	if err := dsttest.Watch(ctx, log, cs, *namespace, srv); err != nil {
		return fmt.Errorf("watch cluster: %w", err)
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	g := grpc.NewServer()
	srv.Register(g)
	go func() {
		<-ctx.Done()
		g.Stop()
	}()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("POST /reset", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, srv.EndStreams(status.Error(codes.Unavailable, "reset by dsttest")))
	})
	mux.HandleFunc("POST /overflow", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, srv.EndStreams(nil))
	})
	mux.HandleFunc("POST /delay", func(w http.ResponseWriter, r *http.Request) {
		d, err := time.ParseDuration(r.URL.Query().Get("d"))
		if err != nil || d < 0 {
			http.Error(w, "d must be a duration such as 250ms", http.StatusBadRequest)
			return
		}
		srv.SetDelay(d)
	})
	aln, err := net.Listen("tcp", *adminAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *adminAddr, err)
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(aln) }()
	defer hs.Close()

	fmt.Printf("dsttest grpc=%s admin=%s\n", ln.Addr(), aln.Addr())
	if err := g.Serve(ln); err != nil {
		return fmt.Errorf("serve gRPC: %w", err)
	}
	return nil
}
