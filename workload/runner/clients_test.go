package runner

import (
	"context"
	"testing"
	"time"

	pb "github.com/linkerd/linkerd2-proxy-api/go/destination"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dstload/dstload/internal/dsttest"
	"github.com/dstload/dstload/provision/local/localtest"
	"github.com/dstload/dstload/workload/scenario"
)

// TestClientsConverge opens the run's in-process clients on real targets
// through the test Destination server and waits until every stream holds
// every endpoint.
func TestClientsConverge(t *testing.T) {
	c := localtest.Start(t, localtest.Options{Nodes: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tg := &Targets{Kubeconfig: c.Kubeconfig, Context: c.Context, Namespace: "dstload-run", Release: "dstload-run",
		Count: 2, Replicas: 3, Log: testLog(t)}
	if err := tg.Install(ctx, c.Clientset); err != nil {
		t.Fatal(err)
	}
	if err := tg.Ready(ctx, c.Clientset, nil); err != nil {
		t.Fatal(err)
	}
	srv, addr := startDestination(t, c.Clientset, "dstload-run", dsttest.Options{})
	s := &scenario.Scenario{Services: scenario.Services{Count: 2, Endpoints: 3},
		Clients: scenario.Clients{Streams: 8, Processes: 2, Connections: 1}}
	cs, err := newClients(Config{Scenario: s, DestinationAddr: addr, Log: testLog(t)}, tg)
	if err != nil {
		t.Fatal(err)
	}
	cctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, cl := range cs.list {
			go cl.Run(cctx)
		}
		<-cctx.Done()
	}()
	if !waitFor(ctx, 20*time.Second, func() bool { return cs.endpointsHeld() == 8*3 }) {
		sl, _ := c.Clientset.DiscoveryV1().EndpointSlices("dstload-run").List(ctx, metav1.ListOptions{})
		for _, es := range sl.Items {
			t.Logf("slice %s labels %v ports %+v endpoints %d", es.Name, es.Labels, es.Ports, len(es.Endpoints))
			for _, ep := range es.Endpoints {
				t.Logf("  %v ready=%v", ep.Addresses, ep.Conditions.Ready)
			}
		}
		cc, _ := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		gs, err := pb.NewDestinationClient(cc).Get(ctx, &pb.GetDestination{Path: "target-000.dstload-run.svc.cluster.local:80"})
		if err == nil {
			u, err := gs.Recv()
			t.Logf("fresh stream: %d addrs, err %v", len(u.GetAdd().GetAddrs()), err)
		}
		open, opened, notFound, overflow := srv.Counters()
		t.Fatalf("endpoints held %d, want %d; client stats %+v; server open %d opened %d notFound %d overflow %d",
			cs.endpointsHeld(), 8*3, cs.list[0].Stats(), open, opened, notFound, overflow)
	}
	opened, streams, errs := cs.stats()
	if opened != 8 || streams != 8 || errs != 0 {
		t.Fatalf("opened %d streams %d errors %d", opened, streams, errs)
	}
	stop()
	<-done
	recs := cs.records()
	if len(recs) != 2 || len(recs[0].Streams) != 4 || recs[0].Streams[0].Client == recs[1].Streams[0].Client {
		t.Fatalf("records: %+v", recs)
	}
}
