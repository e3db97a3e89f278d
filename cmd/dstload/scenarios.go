package main

import (
	"bytes"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/dstload/dstload/workload/scenario"
)

func newScenariosCmd(a *app) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "scenarios",
		Short: "List the scenario catalogue with shapes and criteria",
		Long: `List the embedded scenarios that 'dstload run NAME' accepts,
with their shapes and success criteria. 'dstload run' also takes a path to
your own scenario file in the same format: 'dstload scenarios show NAME'
prints one to start from, and 'dstload scenarios metrics' lists what a
criterion can judge.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			all, err := scenario.Catalogue()
			if err != nil {
				return err
			}
			if output == "" {
				tw := tabwriter.NewWriter(a.out, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tSHAPE\tCRITERIA")
				for _, s := range all {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Name, s.Shape(), s.CriteriaSummary())
				}
				return tw.Flush()
			}
			type item struct {
				Name        string               `json:"name"`
				Description string               `json:"description"`
				Shape       string               `json:"shape"`
				Criteria    []scenario.Criterion `json:"criteria"`
			}
			items := make([]item, len(all))
			for i, s := range all {
				items[i] = item{s.Name, s.Description, s.Shape(), s.Criteria}
			}
			return writeOutput(a.out, output, items)
		},
	}
	addOutputFlag(cmd, &output)
	cmd.AddCommand(newScenariosShowCmd(a), newScenariosMetricsCmd(a))
	return cmd
}

func newScenariosShowCmd(a *app) *cobra.Command {
	var (
		output   string
		scale    float64
		duration time.Duration
		cycles   int
		hold     string
		settle   time.Duration
	)
	cmd := &cobra.Command{
		Use:   "show SCENARIO|FILE",
		Short: "Print a scenario as a file you can copy and edit",
		Long: `Print a catalogue scenario (or a scenario file) resolved: defaults filled
in and, with --scale, --duration, --cycles, --hold and --settle, shrunk
exactly as 'dstload run' would shrink it. The YAML it prints is a scenario
file: save it, edit it and pass its path to 'dstload run'.

  dstload scenarios show small-oscillation --scale 0.05 > mine.yaml`,
		Args:              exactArgs(1),
		ValidArgsFunction: completeScenarios,
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "" && output != outputYAML && output != outputJSON {
				return badOutput(output)
			}
			o, err := scenarioOverrides(cmd, scale, duration, cycles, hold, settle)
			if err != nil {
				return err
			}
			s, err := resolveScenario(args[0], o)
			if err != nil {
				return err
			}
			var b bytes.Buffer
			enc := yaml.NewEncoder(&b)
			enc.SetIndent(2)
			if err := enc.Encode(s); err != nil {
				return fmt.Errorf("encode scenario %s: %w", s.Name, err)
			}
			y := b.Bytes()
			if output == outputJSON {
				var v any
				if err := sigsyaml.Unmarshal(y, &v); err != nil {
					return fmt.Errorf("encode scenario %s: %w", s.Name, err)
				}
				return writeJSON(a.out, v)
			}
			_, err = a.out.Write(y)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVarP(&output, "output", "o", "", "output format: yaml (the default, a scenario file) or json")
	f.Float64Var(&scale, "scale", 0, "multiply services, endpoints and streams by this factor, as 'dstload run --scale'")
	f.DurationVar(&duration, "duration", 0, "replace churn.duration, as 'dstload run --duration'")
	f.IntVar(&cycles, "cycles", -1, "replace churn.cycles, as 'dstload run --cycles'")
	f.StringVar(&hold, "hold", "", "replace the holds: one duration or MAX,MIN, as 'dstload run --hold'")
	f.DurationVar(&settle, "settle", 0, "replace settle, as 'dstload run --settle'")
	return cmd
}

// resolveScenario loads a catalogue name or file and applies the
// overrides, as run, scenarios show and ab do; both failures are bad input.
func resolveScenario(arg string, o scenario.Overrides) (*scenario.Scenario, error) {
	base, err := scenario.Load(arg)
	if err != nil {
		return nil, usageError(err)
	}
	s, err := base.Apply(o)
	if err != nil {
		return nil, usageError(err)
	}
	return s, nil
}

// scenarioOverrides reads the flags run and scenarios show share.
func scenarioOverrides(cmd *cobra.Command, scale float64, duration time.Duration, cycles int, hold string, settle time.Duration) (scenario.Overrides, error) {
	o := scenario.NoOverrides()
	o.Scale, o.Duration, o.Settle = scale, duration, settle
	if cmd.Flags().Changed("cycles") {
		if cycles < 0 {
			return o, usageErrorf("invalid --cycles %d: use 0 (until --duration) or more", cycles)
		}
		o.Cycles = cycles
	}
	var err error
	if o.HoldMax, o.HoldMin, err = parseHold(hold); err != nil {
		return o, err
	}
	if scale < 0 || cmd.Flags().Changed("scale") && scale == 0 {
		return o, usageErrorf("invalid --scale %v: use a factor > 0 such as 0.05", scale)
	}
	if duration < 0 || settle < 0 {
		return o, usageErrorf("durations must be positive (--duration, --settle)")
	}
	return o, nil
}

func newScenariosMetricsCmd(a *app) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "metrics",
		Short: "List every metric a scenario criterion can judge",
		Long: `List the metrics a criterion in a scenario file can name, with the unit its
thresholds are written in (seconds as durations such as 500ms, bytes as
512MiB, counts as integers, ratios as 0.1 or 10%) and what it measures.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			ms := scenario.Metrics()
			if output != "" {
				return writeOutput(a.out, output, ms)
			}
			tw := tabwriter.NewWriter(a.out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "METRIC\tUNIT\tMEANING")
			for _, m := range ms {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", m.Name, m.Unit, m.Doc)
			}
			return tw.Flush()
		},
	}
	addOutputFlag(cmd, &output)
	return cmd
}
