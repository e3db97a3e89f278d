package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/dstload/dstload/provision"
	"github.com/dstload/dstload/provision/local"
	"github.com/dstload/dstload/version"
	"github.com/dstload/dstload/workload/record"
	"github.com/dstload/dstload/workload/report"
	"github.com/dstload/dstload/workload/runner"
	"github.com/dstload/dstload/workload/scenario"
)

func newRunCmd(a *app) *cobra.Command {
	var (
		scale           float64
		duration        time.Duration
		cycles          int
		hold            string
		settle          time.Duration
		outDir          string
		plotFormat      string
		keep            bool
		namespace       string
		destAddr        string
		destMetrics     string
		destVersion     string
		metricsInterval time.Duration
		readyTimeout    time.Duration
		cleanup         bool
		saveRecords     bool
		out             runOutput
		clientNodes     int
	)
	cmd := &cobra.Command{
		Use:   "run SCENARIO|FILE",
		Short: "Run a scenario on the current environment and judge it",
		Long: `Run a scenario (a catalogue name from 'dstload scenarios', or a path to a
scenario YAML file) on the environment made by 'dstload up': deploy the
target Services and Deployments, run churn, the observer and the clients,
sample the destination controller's /metrics, judge every criterion and
write report.json, report.md and plots. On the local provider the workload
runs inside dstload; on k3d and kubeconfig it runs as the dst-load-test
chart's churn and client pods, read through the API server.

Exit codes: 0 every criterion passed, 3 a criterion failed, 4 inconclusive
(no criterion failed, but one could not be judged: dstload's own
measurement error could have changed a latency verdict, or too many events
were cluster-limited, the cluster not reaching a target before the next
event; the report says which), 5 incomplete (a part of the environment
failed mid-run: the API server, etcd, a control-plane process; the run
stopped the load and reported what it had measured; 'dstload up' repairs
it), 1 the run could not be done, 2 bad flags or a bad scenario file.
A destination controller that dies is a finding, not a fault of the
environment: its failed criteria give exit 3.

--scale, --duration, --cycles and --hold shrink a scenario for small
machines and CI, e.g.:

  dstload run small-oscillation --scale 0.05 --cycles 1 --hold 20s`,
		ValidArgsFunction: completeScenarios,
		Args: func(cmd *cobra.Command, args []string) error {
			if cleanup {
				return noArgs(cmd, args)
			}
			return exactArgs(1)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if cleanup {
				st, _, err := a.runCluster()
				if err != nil {
					return err
				}
				// A multicluster run's targets are in the target, its client
				// nodes in the source.
				for _, cl := range st.Clusters {
					if err := runner.Cleanup(ctx, cl.Kubeconfig, cl.Context, namespace, namespace, a.log); err != nil {
						return err
					}
				}
				fmt.Fprintf(a.out, "removed the run's targets in namespace %s\n", namespace)
				return nil
			}
			o, err := scenarioOverrides(cmd, scale, duration, cycles, hold, settle)
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("client-nodes") {
				if clientNodes < 1 {
					return usageErrorf("invalid --client-nodes %d: use 1 or more", clientNodes)
				}
				o.Nodes = clientNodes
			}
			if err := out.check(); err != nil {
				return err
			}
			switch {
			case metricsInterval <= 0 || readyTimeout <= 0:
				return usageErrorf("durations must be positive (--metrics-interval, --ready-timeout)")
			case plotFormat != "svg" && plotFormat != "png":
				return usageErrorf("invalid --plot-format %q: use svg or png", plotFormat)
			}
			s, err := resolveScenario(args[0], o)
			if err != nil {
				return err
			}

			st, cl, err := a.runCluster()
			if err != nil {
				return err
			}
			if outDir == "" {
				outDir = filepath.Join(a.envDir(), "runs", s.Name+"-"+time.Now().UTC().Format("20060102-150405"))
			}
			v := version.Get()
			rcfg := runner.Config{
				Scenario: s, Overrides: o,
				Kubeconfig: cl.Kubeconfig, Context: cl.Context, Namespace: namespace, Release: namespace,
				DestinationAddr: destAddr, MetricsURL: metricsURLOf(destMetrics), MetricsInterval: metricsInterval,
				ReadyTimeout: readyTimeout, OutDir: outDir, PlotFormat: plotFormat, Keep: keep, SaveRecords: saveRecords,
				Tool: report.Tool{Name: "dstload", Version: v.Version, Revision: v.Revision, GoVersion: v.GoVersion},
				Environment: report.Environment{
					Name: a.envName, Provider: st.Provider,
					Versions: report.Versions{Dstload: v.Version, Destination: destVersion, Linkerd: a.linkerdChartVersion()},
				},
				Log: a.log, Progress: a.progress(),
			}
			caps, err := providers().Capabilities(st)
			if err != nil {
				return fmt.Errorf("dstload run does not support provider %s of environment %q: %w", st.Provider, a.envName, err)
			}
			rcfg.Environment.ClockSource = caps.ClockSource
			if s.Multicluster != "" && caps.PodsRun {
				return usageErrorf("scenario %s is multicluster, which 'dstload run' does on the local provider only (its clients run in this process); use an environment made with 'dstload up --provider local --clusters 2'", s.Name)
			}
			if err := a.multiclusterRun(ctx, s, st, &rcfg); err != nil {
				return err
			}
			var res *runner.Result
			if !caps.PodsRun {
				// No pod runs: everything runs inside this process against
				// the environment's host-process destination controller.
				if rcfg.DestinationAddr == "" {
					rcfg.DestinationAddr = cl.DestinationAddr
					rcfg.Environment.DestinationBin, rcfg.Environment.DestinationArgs = cl.DestinationBin, cl.DestinationArgs
					// dstload supervises this controller: its own log
					// explains what the report measured.
					if p := st.Process("", local.Destination); p != nil {
						rcfg.DestinationLog = p.Log
					}
				}
				if rcfg.DestinationAddr == "" {
					return fmt.Errorf("environment %q has no destination controller: start one with 'dstload up --destination-bin PATH' or '--destination-addr HOST:PORT', or pass --destination-addr to run", a.envName)
				}
				if rcfg.MetricsURL == "" {
					rcfg.MetricsURL = metricsURLOf(cl.DestinationAdminAddr)
				}
				// The observer runs as `dstload observe` in a process of
				// its own: this executable, with this environment.
				exe, xerr := os.Executable()
				if xerr != nil {
					return fmt.Errorf("find dstload's executable for the observer process: %w", xerr)
				}
				// The observer follows the etcd of the cluster where the
				// endpoints live (a multicluster run's: the target's; a
				// federated run's: both, one observer each).
				endpoints := ""
				if m := rcfg.Multicluster; m != nil {
					endpoints = m.Target
					if s.Multicluster == scenario.Federated {
						m.SourceObserverCommand = observerCommand(exe, a.envDir(), st, m.Source)
					}
				}
				rcfg.ObserverCommand, rcfg.ObserverEnv = observerCommand(exe, a.envDir(), st, endpoints), os.Environ()
				rcfg.Components = withLink(&rcfg, st, componentsDown(st, rcfg.DestinationAddr))
				if u := local.PrometheusURL(st); u != "" {
					// The environment's Prometheus scrapes the run's
					// processes through a file it watches.
					rcfg.Monitoring = &runner.Monitoring{URL: u, GraphPage: local.GraphPage(ctx, u), ScrapeTargets: func(addrs map[string]string) error {
						return local.WriteRunTargets(a.envDir(), st, addrs)
					}}
				}
				res, err = runner.Run(ctx, rcfg)
			} else {
				// Churn and clients are the chart's pods; --destination-addr
				// is then the address the client pods dial (default: the
				// chart's, Linkerd's in-cluster Service).
				if rcfg.Scenario.Sweep != nil {
					return usageErrorf("scenario %s sweeps the streams, which 'dstload run' does on the local provider only (its clients run in this process); use an environment made with 'dstload up --provider local'", rcfg.Scenario.Name)
				}
				var ic runner.InCluster
				// The tag follows the last colon (a registry host may
				// carry a port).
				if i := strings.LastIndex(cl.WorkloadImage, ":"); i > 0 {
					ic.Image = runner.Image{Repository: cl.WorkloadImage[:i], Tag: cl.WorkloadImage[i+1:], PullPolicy: "IfNotPresent"}
				}
				res, err = runner.RunInCluster(ctx, rcfg, ic)
			}
			if err != nil {
				return err
			}
			if err := a.copyEnvFile(outDir); err != nil {
				return err
			}
			if err := out.write(a, res); err != nil {
				return err
			}
			return verdictError(res)
		},
	}
	f := cmd.Flags()
	f.Float64Var(&scale, "scale", 0, "multiply services, endpoints and streams by this factor (e.g. 0.05 for CI)")
	f.DurationVar(&duration, "duration", 0, "replace the scenario's churn.duration (stable: how long the load is held)")
	f.IntVar(&cycles, "cycles", -1, "replace the scenario's oscillation cycles")
	f.StringVar(&hold, "hold", "", "replace the holds at max and min: one duration for both, or MAX,MIN (e.g. 20s,40s)")
	f.DurationVar(&settle, "settle", 0, "replace how long the run waits after the last event for convergence")
	f.IntVar(&clientNodes, "client-nodes", 0, "replace clients.nodes: how many nodes the client processes sit on (the controller's filter keys per service)")
	f.StringVar(&outDir, "out", "", "directory for report.json, report.md and plots (default <state-dir>/<name>/runs/<scenario>-<time>)")
	f.StringVar(&plotFormat, "plot-format", "svg", "plot format: svg or png")
	f.BoolVar(&keep, "keep", false, "leave the target Services and Deployments (and on k3d/kubeconfig the churn and client pods) installed after the run")
	f.StringVar(&namespace, "namespace", "dstload-run", "namespace (and Helm release name) of the run's targets")
	f.StringVar(&destAddr, "destination-addr", "", "destination controller gRPC host:port (default: the environment's; on k3d/kubeconfig the address the client pods dial, default the chart's linkerd-dst-headless.linkerd...:8086)")
	f.StringVar(&destMetrics, "destination-metrics", "", "destination controller metrics host:port or URL (default: the environment's admin address; on k3d/kubeconfig the linkerd-destination pod's admin port through the API server)")
	f.StringVar(&destVersion, "destination-version", "", "what the destination controller is (a version or branch), recorded in the report for compare")
	f.DurationVar(&metricsInterval, "metrics-interval", 2*time.Second, "how often the destination's /metrics is sampled")
	f.DurationVar(&readyTimeout, "ready-timeout", 10*time.Minute, "how long to wait for the targets and the streams to come up")
	f.BoolVar(&saveRecords, "records", false, "also write the raw churn, observer and client records as "+record.FileName+" (gzip-compressed, one JSON record per line)")
	f.BoolVar(&cleanup, "cleanup", false, "remove the targets a --keep run left in --namespace, and run nothing")
	out.addFlags(cmd)
	return cmd
}

// runCluster reads the environment's state and its (first) cluster.
func (a *app) runCluster() (*provision.State, *provision.Cluster, error) {
	st, err := provision.LoadState(a.envDir())
	if errors.Is(err, provision.ErrNoState) {
		return nil, nil, fmt.Errorf("no environment %q in %s: run 'dstload up' first", a.envName, a.stateDir)
	}
	if err != nil {
		return nil, nil, err
	}
	if st.Phase != provision.PhaseReady {
		return nil, nil, fmt.Errorf("environment %q is %s, not ready: finish 'dstload up' first", a.envName, st.Phase)
	}
	cl := st.Cluster("")
	if cl == nil {
		return nil, nil, fmt.Errorf("environment %q records no cluster: run 'dstload up' again", a.envName)
	}
	return st, cl, nil
}

// metricsURLOf turns --destination-metrics (host:port or URL) into a URL;
// "" stays "".
func metricsURLOf(s string) string {
	if s != "" && !strings.Contains(s, "://") {
		return "http://" + s + "/metrics"
	}
	return s
}

// parseHold reads --hold: "" (keep), "D" (both) or "MAX,MIN".
func parseHold(s string) (hmax, hmin time.Duration, err error) {
	if s == "" {
		return 0, 0, nil
	}
	parts := strings.Split(s, ",")
	if len(parts) > 2 {
		return 0, 0, usageErrorf("invalid --hold %q: use one duration or MAX,MIN such as 20s,40s", s)
	}
	var ds []time.Duration
	for _, p := range parts {
		d, err := time.ParseDuration(strings.TrimSpace(p))
		if err != nil || d <= 0 {
			return 0, 0, usageErrorf("invalid --hold %q: use one duration or MAX,MIN such as 20s,40s", s)
		}
		ds = append(ds, d)
	}
	if len(ds) == 1 {
		return ds[0], ds[0], nil
	}
	return ds[0], ds[1], nil
}
