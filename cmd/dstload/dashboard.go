package main

import (
	"github.com/spf13/cobra"

	"github.com/dstload/dstload/charts"
)

func newDashboardCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "dashboard",
		Short: "Print the Grafana dashboard for a destination controller under load",
		Long: `Prints the Grafana dashboard JSON (subscribers, updates, queue overflows,
informer lag, memory, goroutines, gRPC streams, and dstload's latencies,
stream errors and held-vs-ready endpoints) to import into any Grafana with
a Prometheus data source:

  dstload dashboard > dstload-destination.json

On k3d and kubeconfig, 'dstload run' with the chart's monitoring on ships
the same dashboard as a ConfigMap that kube-prometheus-stack's Grafana
loads. On local, 'dstload up --monitoring' runs a Prometheus whose URL
'dstload status' prints: add it to Grafana as the data source. The
"destination job" variable selects the Prometheus job that scrapes the
destination controller (default .*destination.*, which matches local's
job "destination").`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := charts.Dashboard()
			if err != nil {
				return err
			}
			_, err = a.out.Write(b)
			return err
		},
	}
}
