package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/dstload/dstload/provision"
	"github.com/dstload/dstload/provision/k3d"
	"github.com/dstload/dstload/provision/kubeconfig"
	"github.com/dstload/dstload/provision/link"
	"github.com/dstload/dstload/provision/local"
	"github.com/dstload/dstload/provision/stack"
)

// upOptions are the flags of `dstload up`.
type upOptions struct {
	provider string
	cfg      provision.Config
	// Stack (Helm releases).
	noStack    bool
	monitoring bool
	mirror     string
	values     []string // release=file
	set        []string // release.key=value
	versions   []string // release=version
	timeout    time.Duration
	config     string // environment file
}

func newUpCmd(a *app) *cobra.Command {
	o := &upOptions{}
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Create the environment: cluster, trust root, Linkerd, KWOK nodes",
		Long: `Creates the environment named by --name, or resumes one that a failed or
interrupted 'up' left half-made. A second 'up' of a healthy environment
reports "already up" and changes nothing.

Providers:
  k3d         clusters in Docker through the k3d SDK (the default)
  local       no Docker: etcd, kube-apiserver, kube-controller-manager,
              kube-scheduler and kwok as host processes on 127.0.0.1, plus
              Linkerd's destination controller (see --destination-*)
  kubeconfig  an existing cluster; --context must name it`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runUp(cmd, a, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.config, "config", "", "environment file (apiVersion "+envAPIVersion+", kind "+envKind+"; 'dstload env export' writes one); flags given here win over it")
	f.StringVar(&o.provider, "provider", "", "where the clusters come from: k3d, local or kubeconfig (default: the environment's; else k3d when a local Docker daemon answers, else local)")
	f.IntVar(&o.cfg.Nodes, "nodes", local.DefaultNodes, "number of KWOK fake nodes")
	f.IntVar(&o.cfg.Clusters, "clusters", 1, "number of clusters (2 = source and target, linked)")
	f.StringVar(&o.cfg.BinDir, "bin-dir", os.Getenv(local.BinDirEnv), "local: directory with etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok (env "+local.BinDirEnv+"; default PATH, then the cache, else built with Go)")
	f.IntVar(&o.cfg.APIPort, "api-port", 0, "apiserver port on 127.0.0.1 (local; k3d: the first cluster's) (default: a free one)")
	f.StringVar(&o.cfg.DestinationBin, "destination-bin", "", "run this Linkerd controller binary as the destination controller (local; env "+local.DestinationBinEnv+")")
	f.StringArrayVar(&o.cfg.DestinationArgs, "destination-arg", nil, "local: an extra flag for the destination controller dstload runs, e.g. --destination-arg=-stream-queue-capacity=1 (repeatable; recorded in the state and in every report; a changed set restarts the controller; a plain 'up' keeps the recorded ones, --destination-bin without it drops them)")
	f.StringVar(&o.cfg.DestinationAddr, "destination-addr", "", "use the destination controller already serving gRPC at HOST:PORT")
	f.StringVar(&o.cfg.DestinationImage, "destination-image", local.DefaultDestinationImage, "local: controller image to take the destination controller from when neither --destination-bin nor --destination-addr is given")
	f.StringVar(&o.cfg.Kubeconfig, "kubeconfig", "", "kubeconfig provider: kubeconfig file (default: KUBECONFIG or ~/.kube/config)")
	f.StringVar(&o.cfg.Context, "context", "", "kubeconfig provider: the context to use (required)")
	f.BoolVar(&o.noStack, "no-stack", false, "create the cluster only: no Helm releases")
	f.BoolVar(&o.monitoring, "monitoring", false, "monitoring: kube-prometheus-stack (k3d, kubeconfig); on local a Prometheus process scraping the controller, apiserver, kwok and runs (a later 'up' without it stops it)")
	f.StringVar(&o.cfg.PrometheusBin, "prometheus-bin", "", "local --monitoring: the Prometheus binary (default: prometheus on PATH)")
	f.StringVar(&o.mirror, "chart-mirror", os.Getenv(stack.MirrorEnv), "chart mirror directory or URL (env "+stack.MirrorEnv+")")
	f.StringArrayVarP(&o.values, "values", "f", nil, "extra Helm values file for a release, release=FILE (repeatable; applied over dstload's defaults)")
	f.StringArrayVar(&o.set, "set", nil, "set a Helm value of a release, release.key=value in helm's --set syntax (repeatable; applied after --values)")
	f.StringArrayVar(&o.versions, "chart-version", nil, "override a pinned chart version, release=VERSION (repeatable)")
	f.DurationVar(&o.timeout, "ready-timeout", 0, "time each Helm release may take to install and become ready (default 5m, kube-prometheus-stack 10m)")
	f.DurationVar(&o.timeout, "stack-timeout", 0, "")
	_ = f.MarkDeprecated("stack-timeout", "use --ready-timeout")
	return cmd
}

// providers lists the providers this build can use. Down and status build
// the one recorded in the state file from a zero Config.
func providers() *provision.Registry {
	r := provision.NewRegistry()
	r.Register(k3d.ProviderName, k3d.Factory)
	r.Register(local.ProviderName, local.Factory)
	r.Register(kubeconfig.ProviderName, kubeconfig.Factory)
	return r
}

// newLifecycle wires up, down and status of the environment of
// --state-dir/--name with the providers and the stack hook (nil: cluster
// only).
func (a *app) newLifecycle(st provision.StackHook) *provision.Lifecycle {
	return &provision.Lifecycle{
		Env:       provision.Env{Name: a.envName, Dir: a.envDir(), Log: a.log, Progress: a.progress()},
		Providers: providers(),
		Stack:     st,
	}
}

func runUp(cmd *cobra.Command, a *app, o *upOptions) error {
	if o.config != "" {
		f, err := readEnvFile(o.config)
		if err != nil {
			return usageError(err)
		}
		f.apply(cmd, o)
	}
	o.cfg.DestinationArgsSet = cmd.Flags().Changed("destination-arg")
	// `up` states monitoring every time: without --monitoring it is off.
	o.cfg.Monitoring, o.cfg.MonitoringSet = o.monitoring, true
	if o.cfg.Nodes < 1 {
		return usageErrorf("--nodes %d: need at least 1 fake node", o.cfg.Nodes)
	}
	if o.cfg.Clusters < 1 || o.cfg.Clusters > 2 {
		return usageErrorf("--clusters %d: use 1 (one cluster) or 2 (a source and a target, linked)", o.cfg.Clusters)
	}
	if !cmd.Flags().Changed("clusters") {
		// A plain `up` keeps a linked pair linked.
		if st, err := provision.LoadState(a.envDir()); err == nil && len(st.Clusters) > 1 {
			o.cfg.Clusters = len(st.Clusters)
		}
	}
	chosen := ""
	if o.provider == "" {
		name, why, err := chooseProvider(cmd.Context(), cmd, a.envDir(), func(ctx context.Context) error {
			return k3d.CheckDocker(ctx, dockerProbeTimeout)
		})
		if err != nil {
			return provisionError(err)
		}
		o.provider = name
		// Said once the input is known to be good: bad input stays one line.
		chosen = fmt.Sprintf("provider %s: %s\n", name, why)
	}
	caps, err := providers().Info(o.provider)
	if err != nil {
		return provisionError(err)
	}
	// DSTLOAD_DESTINATION_BIN is for providers that run the controller
	// themselves.
	if env := os.Getenv(local.DestinationBinEnv); env != "" && caps.DestinationHint != "" &&
		!cmd.Flags().Changed("destination-bin") && o.cfg.DestinationAddr == "" && !a.recordsDestination() {
		o.cfg.DestinationBin = env
	}
	var (
		hook                provision.StackHook
		userValues, userSet map[string][]string
		versions            map[string]string
	)
	if !o.noStack {
		var err error
		userValues, err = stack.ParseValueFiles(o.values)
		if err != nil {
			return usageError(err)
		}
		userSet, err = stack.ParseSet(o.set)
		if err != nil {
			return usageError(err)
		}
		versions, err = stack.ParseVersions(o.versions)
		if err != nil {
			return usageError(err)
		}
		// Where no pod runs the provider runs Prometheus itself.
		h := &stack.Hook{Monitoring: o.monitoring && caps.PodsRun, Multicluster: o.cfg.Clusters > 1, Mirror: o.mirror,
			UserValues: userValues, UserSet: userSet, Versions: versions, Timeout: o.timeout, CompareSettings: true}
		if err := h.Validate(o.provider, caps); err != nil {
			return usageError(err)
		}
		hook = link.Wrap(h)
	}
	env := a.newLifecycle(hook)
	fmt.Fprint(a.progress(), chosen)
	res, err := env.Up(cmd.Context(), o.provider, o.cfg)
	if err != nil {
		return provisionError(err)
	}
	st := res.State
	if err := resolvedEnvFile(o, st, userValues, userSet, versions).write(filepath.Join(a.envDir(), envFileName)); err != nil {
		return err
	}
	if res.AlreadyUp {
		fmt.Fprintf(a.out, "environment %q is already up (provider %s); nothing changed\n", a.envName, st.Provider)
	} else {
		fmt.Fprintf(a.out, "environment %q is up (provider %s) in %s\n", a.envName, st.Provider, res.Elapsed.Round(10*time.Millisecond))
	}
	printClusters(a, st)
	if u := local.PrometheusURL(st); u != "" {
		fmt.Fprintf(a.out, "prometheus: %s (scrape targets: dstload status)\n", u)
	}
	return nil
}

// recordsDestination: the environment already has a destination
// controller (which a plain `up` keeps, with its args).
func (a *app) recordsDestination() bool {
	st, err := provision.LoadState(a.envDir())
	if err != nil {
		return false
	}
	for _, c := range st.Clusters {
		if c.DestinationBin != "" || c.DestinationAddr != "" {
			return true
		}
	}
	return false
}

func printClusters(a *app, st *provision.State) {
	for _, c := range st.Clusters {
		fmt.Fprintf(a.out, "cluster %s: kubeconfig %s (context %s)\n", c.Name, c.Kubeconfig, c.Context)
		switch {
		case c.DestinationAddr != "":
			fmt.Fprintf(a.out, "  destination controller: %s", c.DestinationAddr)
			if c.DestinationAdminAddr != "" {
				fmt.Fprintf(a.out, " (admin %s)", c.DestinationAdminAddr)
			}
			fmt.Fprintln(a.out)
		case st.Capabilities != nil && st.Capabilities.DestinationHint != "":
			fmt.Fprintf(a.out, "  no destination controller: %s\n", st.Capabilities.DestinationHint)
		}
	}
}

// provisionError maps the errors of up, down and status: bad input to a
// usage error (exit 2), the rest to a runtime failure (exit 1). The
// provision package and the providers mark what is bad input
// (provision.IsUsage).
func provisionError(err error) error {
	if provision.IsUsage(err) {
		return usageError(err)
	}
	return err
}
