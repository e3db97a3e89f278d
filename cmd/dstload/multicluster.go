package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	pb "github.com/linkerd/linkerd2-proxy-api/go/destination"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/dstload/dstload/provision"
	"github.com/dstload/dstload/provision/link"
	"github.com/dstload/dstload/workload/runner"
	"github.com/dstload/dstload/workload/scenario"
)

// multiclusterRun points a multicluster scenario's run at the linked pair:
// the endpoints' cluster (the target) for targets, churn and observer, the
// source's controller for the streams. A one-cluster environment is bad
// input (exit 2); a link that does not work now is a runtime failure.
func (a *app) multiclusterRun(ctx context.Context, s *scenario.Scenario, st *provision.State, rcfg *runner.Config) error {
	if s.Multicluster == "" {
		return nil
	}
	src, tgt := link.Pair(st)
	if src == nil {
		return usageError(&scenario.MulticlusterError{Scenario: s.Name, Mode: s.Multicluster, Env: a.envName})
	}
	if ls := link.Check(ctx, src, tgt); !ls.Healthy() {
		return fmt.Errorf("the link of %s into %s does not work (%s): run 'dstload up' to repair it", tgt.Name, src.Name, ls.Component().Detail)
	}
	rcfg.Kubeconfig, rcfg.Context = tgt.Kubeconfig, tgt.Context
	rcfg.Multicluster = &runner.Multicluster{Mode: s.Multicluster, Source: src.Name, Target: tgt.Name,
		SourceKubeconfig: src.Kubeconfig, SourceContext: src.Context}
	return nil
}

// withLink adds the link to what a multicluster run watches (next: the
// processes): once the source's controller holds no linked cluster
// (cluster_store_size 0, e.g. its credentials Secret was deleted) the
// mirrors' streams get no more updates (the controller leaves open streams
// open), so the run stops and its report names the fault, with the answer
// the controller now gives a new stream for a mirror.
func withLink(rcfg *runner.Config, st *provision.State, next func() []runner.ComponentDown) func() []runner.ComponentDown {
	m := rcfg.Multicluster
	src, _ := link.Pair(st)
	if m == nil || src == nil || src.DestinationAdminAddr == "" {
		return next
	}
	// A stream the controller resolves through the link: a mirror's, or
	// a federated Service's (its remote members).
	suffix := "-" + m.Target
	if m.Mode == scenario.Federated {
		suffix = "-federated"
	}
	path := fmt.Sprintf("%s-000%s.%s.svc.cluster.local:80", "target", suffix, rcfg.Namespace)
	addr := rcfg.DestinationAddr
	return func() []runner.ComponentDown {
		var down []runner.ComponentDown
		if next != nil {
			down = next()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		// An unreadable gauge is the controller's own fault, which the
		// process and /metrics checks report.
		if n, err := link.ClusterStoreSize(ctx, src.DestinationAdminAddr); err == nil && n == 0 {
			down = append(down, runner.ComponentDown{Name: "link/" + m.Target, Detail: fmt.Sprintf(
				"the destination controller dropped cluster %s (cluster_store_size 0; is Secret %s/%s gone?); a new stream for %s now gets: %s",
				m.Target, link.ControlPlaneNamespace, link.SecretName(m.Target), path, askOnce(ctx, addr, path))})
		}
		return down
	}
}

// askOnce opens one Destination.Get stream and says how the controller
// answered: its error, or that it sent an update.
func askOnce(ctx context.Context, addr, path string) string {
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err.Error()
	}
	defer cc.Close()
	stream, err := pb.NewDestinationClient(cc).Get(ctx, &pb.GetDestination{Scheme: "k8s", Path: path})
	if err == nil {
		_, err = stream.Recv()
	}
	if err != nil {
		return strings.Join(strings.Fields(err.Error()), " ")
	}
	return "an update (the cluster is back)"
}
