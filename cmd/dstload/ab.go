package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/dstload/dstload/version"
	"github.com/dstload/dstload/workload/ab"
	"github.com/dstload/dstload/workload/report"
	"github.com/dstload/dstload/workload/runner"
)

type abOptions struct {
	a, b               string
	aArgs, bArgs       []string
	aMetrics, bMetrics string
	repeat             int
	confidence         float64
	tolerance          string
	failOnReg          bool
	outDir             string
	// the scenario overrides and run settings of `dstload run`
	scale           float64
	duration        time.Duration
	cycles          int
	hold            string
	settle          time.Duration
	namespace       string
	metricsInterval time.Duration
	readyTimeout    time.Duration
}

func newABCmd(a *app) *cobra.Command {
	o := &abOptions{}
	cmd := &cobra.Command{
		Use:   "ab SCENARIO|FILE --a BIN --b BIN --repeat N",
		Short: "A/B two destination controllers: interleaved repeats and a verdict per metric",
		Long: `Run a scenario --repeat times against each of two destination controllers,
interleaved in pairs (A B, B A, A B, ...) on the environment made by 'dstload up --provider
local', restarting the controller before every run. --a and --b are
Linkerd controller binaries (with --a-arg/--b-arg flags for them, as
'dstload up --destination-arg'), or HOST:PORT of controllers you run
(--a-metrics/--b-metrics for their /metrics). The same binary on both
sides with other flags compares settings; the same binary and flags is an
A-vs-A run, the noise floor of this machine.

For every metric of 'dstload compare': the per-run values, the median
shift B - A with a confidence interval (Hodges-Lehmann with the exact
Mann-Whitney interval; docs/ab.md) and a verdict: worse or better when the
whole interval lies beyond the margin (the larger of the metric's floor
and --tolerance of A's median), else no significant change. Writes ab.json,
ab.md and each run's report under runs/ in --out; the environment gets its
own controller back at the end.

Exit codes: 0 done, 3 with --fail-on-regression when a judged metric is
significantly worse, 1 a run could not be done, 2 bad flags or input.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runAB(cmd, a, o, args[0]) },
	}
	f := cmd.Flags()
	f.StringVar(&o.a, "a", "", "side A (the reference): a Linkerd controller binary, or HOST:PORT of a controller you run")
	f.StringVar(&o.b, "b", "", "side B (the candidate): a Linkerd controller binary, or HOST:PORT of a controller you run")
	f.StringArrayVar(&o.aArgs, "a-arg", nil, "an extra flag for side A's controller, e.g. --a-arg=-stream-queue-capacity=1 (repeatable)")
	f.StringArrayVar(&o.bArgs, "b-arg", nil, "an extra flag for side B's controller (repeatable)")
	f.StringVar(&o.aMetrics, "a-metrics", "", "metrics host:port or URL of side A when --a is an address")
	f.StringVar(&o.bMetrics, "b-metrics", "", "metrics host:port or URL of side B when --b is an address")
	f.IntVar(&o.repeat, "repeat", 0, "runs per side (at least 2; 3 reaches 90% confidence, 4 reaches 97%)")
	f.Float64Var(&o.confidence, "confidence", 0.9, "confidence of the intervals (two-sided)")
	f.StringVar(&o.tolerance, "tolerance", "10%", "the relative shift that counts, over each metric's floor (10% or 0.1)")
	f.BoolVar(&o.failOnReg, "fail-on-regression", false, "exit 3 when a judged metric is significantly worse on side B")
	f.StringVar(&o.outDir, "out", "", "directory for ab.json, ab.md and runs/ (default <state-dir>/<name>/ab/<scenario>-<time>); must be new or empty")
	f.Float64Var(&o.scale, "scale", 0, "multiply services, endpoints and streams by this factor (as dstload run)")
	f.DurationVar(&o.duration, "duration", 0, "replace the scenario's churn.duration")
	f.IntVar(&o.cycles, "cycles", -1, "replace the scenario's oscillation cycles")
	f.StringVar(&o.hold, "hold", "", "replace the holds at max and min: one duration or MAX,MIN")
	f.DurationVar(&o.settle, "settle", 0, "replace how long a run waits after the last event")
	f.StringVar(&o.namespace, "namespace", "dstload-run", "namespace (and Helm release name) of the runs' targets")
	f.DurationVar(&o.metricsInterval, "metrics-interval", 2*time.Second, "how often the destination's /metrics is sampled")
	f.DurationVar(&o.readyTimeout, "ready-timeout", 10*time.Minute, "how long each run waits for the targets and the streams")
	return cmd
}

func runAB(cmd *cobra.Command, a *app, o *abOptions, scenarioArg string) error {
	ctx := cmd.Context()
	// Every check before anything is made or started.
	tol, err := parseTolerance(o.tolerance)
	if err != nil {
		return err
	}
	if o.repeat < 2 {
		return usageErrorf("--repeat %d: an A/B needs at least 2 runs per side (3 or more for a verdict at 90%% confidence)", o.repeat)
	}
	if !(o.confidence > 0 && o.confidence < 1) {
		return usageErrorf("--confidence %v: use a value between 0 and 1, e.g. 0.9", o.confidence)
	}
	sa, err := abSide("a", o.a, o.aArgs, o.aMetrics)
	if err != nil {
		return err
	}
	sb, err := abSide("b", o.b, o.bArgs, o.bMetrics)
	if err != nil {
		return err
	}
	ov, err := scenarioOverrides(cmd, o.scale, o.duration, o.cycles, o.hold, o.settle)
	if err != nil {
		return err
	}
	if o.metricsInterval <= 0 || o.readyTimeout <= 0 {
		return usageErrorf("durations must be positive (--metrics-interval, --ready-timeout)")
	}
	s, err := resolveScenario(scenarioArg, ov)
	if err != nil {
		return err
	}
	env, err := a.abEnvironment()
	if err != nil {
		return err
	}
	outDir := o.outDir
	if outDir == "" {
		outDir = filepath.Join(a.envDir(), "ab", s.Name+"-"+time.Now().UTC().Format("20060102-150405"))
	}
	if entries, err := os.ReadDir(outDir); err == nil && len(entries) > 0 {
		return usageErrorf("--out %s is not empty: give a new directory, so that runs of two A/Bs do not mix", outDir)
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find dstload's executable for the observer process: %w", err)
	}

	v := version.Get()
	kubeconfig, kubeContext := env.kube()
	progress := a.progress()
	cfg := ab.Config{
		A: sa, B: sb, Repeat: o.repeat, Confidence: o.confidence, Tolerance: tol, OutDir: outDir,
		Progress: progress,
		Prepare:  func(ctx context.Context, _ string, side ab.Side) error { return env.prepare(ctx, side) },
		RunOne: func(ctx context.Context, name string, side ab.Side, dir string) (*report.Report, error) {
			addr, metricsURL := env.destination(side)
			rcfg := runner.Config{
				Scenario: s, Overrides: ov,
				Kubeconfig: kubeconfig, Context: kubeContext, Namespace: o.namespace, Release: o.namespace,
				DestinationAddr: addr, MetricsURL: metricsURL, MetricsInterval: o.metricsInterval,
				ReadyTimeout: o.readyTimeout, OutDir: dir, PlotFormat: "svg",
				ObserverCommand: observerCommand(exe, a.envDir(), env.st, ""), ObserverEnv: os.Environ(),
				Tool: report.Tool{Name: "dstload", Version: v.Version, Revision: v.Revision, GoVersion: v.GoVersion},
				Environment: report.Environment{
					Name: a.envName, Provider: env.st.Provider, ClockSource: "single host clock",
					DestinationBin: side.Bin, DestinationArgs: side.Args,
					Versions: report.Versions{Dstload: v.Version, Destination: strings.ToUpper(name) + ": " + side.String()},
				},
				Log: a.log, Progress: &prefixWriter{w: progress, prefix: strings.ToUpper(filepath.Base(dir)) + " "},
			}
			res, err := runner.Run(ctx, rcfg)
			if err != nil {
				return nil, err
			}
			return res.Report, nil
		},
	}
	res, err := ab.Execute(ctx, cfg)
	if rerr := env.restore(); rerr != nil {
		fmt.Fprintf(a.errOut, "ab: could not put the environment's controller back: %v\n", oneLine(rerr.Error()))
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(a.out)
	if err := ab.WriteSummary(a.out, res); err != nil {
		return err
	}
	fmt.Fprintf(a.out, "  result: %s\n          %s\n          runs in %s\n", filepath.Join(outDir, ab.JSONFile),
		filepath.Join(outDir, ab.MarkdownFile), filepath.Join(outDir, ab.RunsDir))
	if o.failOnReg && res.Regressions > 0 {
		return &exitError{code: exitCriteria, err: fmt.Errorf("%d metric(s) significantly worse on side B (see %s)", res.Regressions, filepath.Join(outDir, ab.MarkdownFile))}
	}
	return nil
}

// prefixWriter starts every line with prefix, so that a run's progress
// says which side it is.
type prefixWriter struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
	mid    bool // within a line
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out bytes.Buffer
	for _, line := range bytes.SplitAfter(b, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		if !p.mid {
			out.WriteString(p.prefix)
		}
		out.Write(line)
		p.mid = line[len(line)-1] != '\n'
	}
	if _, err := p.w.Write(out.Bytes()); err != nil {
		return 0, err
	}
	return len(b), nil
}
