package dsttest

import (
	"context"
	"log/slog"
	"net"
	"testing"

	"google.golang.org/grpc"
	"k8s.io/client-go/kubernetes"
)

// Start runs a Server fed by the cluster's EndpointSlices in namespace ("" =
// all) on a free loopback port for the rest of the test, and returns it
// with its gRPC address.
func Start(t testing.TB, log *slog.Logger, cs kubernetes.Interface, namespace string, o Options) (*Server, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	srv := NewServer(o)
	if err := Watch(ctx, log, cs, namespace, srv); err != nil {
		cancel()
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	g := grpc.NewServer()
	srv.Register(g)
	go g.Serve(ln)
	t.Cleanup(func() {
		g.Stop()
		cancel()
	})
	return srv, ln.Addr().String()
}
