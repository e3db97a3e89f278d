package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/dstload/dstload/workload/admin"
	"github.com/dstload/dstload/workload/churn"
	"github.com/dstload/dstload/workload/eventfeed"
	"github.com/dstload/dstload/workload/observer"
	"github.com/dstload/dstload/workload/record"
)

// newRegistry is a process registry with the Go and process collectors.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// writeRecordsFile writes the final records (0600: they name the cluster's
// endpoints, nothing secret, but nobody else needs them).
// The format is record.FileName's: gzip-compressed NDJSON.
func writeRecordsFile(path string, s record.Set) error { return record.WriteFile(path, s, 0o600) }

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func newChurnCmd(a *app) *cobra.Command {
	var (
		kf          = newKubeFlags()
		o           churn.Options
		hold        string
		oldHold     [2]time.Duration
		adminAddr   string
		recordsFile string
		portName    string
	)
	cmd := &cobra.Command{
		Use:   "churn",
		Short: "Scale the target Deployments in waves and observe their endpoints",
		Long: `Scales the Deployments matching --selector in --namespace following a
pattern (stable: one wave to --max, then hold; oscillate: --max, hold,
--min, hold, for --cycles cycles or forever), and records every scale write.
An observer watches the EndpointSlices of the same-named Services and
records when each endpoint became ready or gone, and when the cluster
reached each target.

The admin port serves /metrics, /ready, /live, /records (the records as
JSON) and /events, the scale-event feed 'dstload client --events-url'
follows. When the pattern is done churn keeps serving until stopped.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if o.Pattern.HoldMax, o.Pattern.HoldMin, err = parseHold(hold); err != nil {
				return err
			}
			if cmd.Flags().Changed("hold-max") {
				o.Pattern.HoldMax = oldHold[0]
			}
			if cmd.Flags().Changed("hold-min") {
				o.Pattern.HoldMin = oldHold[1]
			}
			if o.Namespace, err = kf.namespace(); err != nil {
				return err
			}
			p := o.Pattern
			switch {
			case p.Kind == churn.Oscillate && p.Min > p.Max:
				return usageErrorf("--min %d is greater than --max %d: swap them", p.Min, p.Max)
			case p.Kind == churn.Oscillate && p.Min == p.Max:
				return usageErrorf("--min and --max are both %d: oscillate needs min < max (or use --pattern stable)", p.Min)
			case p.Min < 0 || p.Max < 0:
				return usageErrorf("--min and --max must not be negative")
			case p.Jitter < 0:
				return usageErrorf("--jitter must not be negative")
			case p.Cycles < 0:
				return usageErrorf("--cycles must be 0 (forever) or more, got %d", p.Cycles)
			}
			if err := p.Validate(); err != nil {
				return usageErrorf("invalid --pattern: %v", err)
			}
			if o.Selector == "" {
				return usageErrorf("--selector is required: a label selector of the Deployments to scale")
			}
			if o.Concurrency < 1 || o.Attempts < 1 {
				return usageErrorf("--concurrency and --attempts must be at least 1")
			}
			return runChurn(cmd.Context(), a, kf, o, adminAddr, recordsFile, portName)
		},
	}
	kf.add(cmd)
	fs := cmd.Flags()
	fs.StringVarP(&o.Selector, "selector", "l", "", "label selector of the Deployments to scale (each fronted by a Service of the same name)")
	fs.StringVar(&o.Pattern.Kind, "pattern", churn.Oscillate, "stable or oscillate")
	fs.IntVar(&o.Pattern.Min, "min", 1, "replicas at the low point")
	fs.IntVar(&o.Pattern.Max, "max", 10, "replicas at the high point (stable: the replicas)")
	fs.StringVar(&hold, "hold", "1m", "time held at max and at min: one duration for both, or MAX,MIN (e.g. 20s,40s), as 'dstload run --hold'")
	fs.DurationVar(&oldHold[0], "hold-max", 0, "")
	fs.DurationVar(&oldHold[1], "hold-min", 0, "")
	_ = fs.MarkDeprecated("hold-max", "use --hold MAX,MIN")
	_ = fs.MarkDeprecated("hold-min", "use --hold MAX,MIN")
	fs.DurationVar(&o.Pattern.Jitter, "jitter", 0, "random delay of each service's write within a wave (0 to this)")
	fs.IntVar(&o.Pattern.Cycles, "cycles", 0, "oscillation cycles (0: until stopped)")
	fs.IntVar(&o.Concurrency, "concurrency", 100, "scale writes in flight")
	fs.IntVar(&o.Attempts, "attempts", 5, "tries per scale write before it counts as failed")
	fs.StringVar(&portName, "port-name", "", "EndpointSlice port the observer reports (default: each slice's first)")
	fs.StringVar(&adminAddr, "metrics-addr", ":9990", "admin HTTP address (/metrics /ready /live /records /events)")
	fs.StringVar(&recordsFile, "records-file", "", "also write the records here when stopping")
	return cmd
}

func runChurn(ctx context.Context, a *app, kf kubeFlags, o churn.Options, adminAddr, recordsFile, portName string) error {
	cs, err := kf.clientset()
	if err != nil {
		return err
	}
	reg := newRegistry()
	feed := eventfeed.New()
	// The observer is told about each event before the clients, so it
	// never misses the moment the cluster reaches the target.
	var obs *observer.Observer
	ch, err := churn.New(ctx, a.log, reg, cs, o,
		func(e record.ScaleEvent) { obs.Expect(e) },
		feed.Append)
	if err != nil {
		return fmt.Errorf("churn: %w", err)
	}
	obs = observer.New(a.log, reg, o.Namespace, ch.Services(), portName)
	records := func() record.Set { return record.Merge(ch.Records(), obs.Records()) }
	actx, stopAdmin := context.WithCancel(context.WithoutCancel(ctx))
	defer stopAdmin()
	h := admin.Handlers{Registry: reg, Ready: obs.Ready, Records: records,
		Extra: map[string]http.Handler{"GET /events": feed}}
	if _, _, err := admin.Serve(actx, a.log, adminAddr, h.Mux()); err != nil {
		return err
	}
	if err := obs.Start(ctx, cs); err != nil {
		return fmt.Errorf("observer: %w", err)
	}
	a.log.Info("churning", "namespace", o.Namespace, "deployments", len(ch.Services()), "pattern", o.Pattern.Kind,
		"min", o.Pattern.Min, "max", o.Pattern.Max, "cycles", o.Pattern.Cycles)
	if err := ch.Run(ctx); err != nil {
		return fmt.Errorf("churn: %w", err)
	}
	if ctx.Err() == nil {
		a.log.Info("pattern done; serving records until stopped")
		<-ctx.Done()
	}
	obs.Finish()
	if recordsFile != "" {
		return writeRecordsFile(recordsFile, records())
	}
	return nil
}
