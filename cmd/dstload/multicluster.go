package main

import (
	"context"
	"fmt"

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
