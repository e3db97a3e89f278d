package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/dstload/dstload/workload/report"
)

func newCompareCmd(a *app) *cobra.Command {
	var (
		output    string
		tolerance string
		failOnReg bool
	)
	cmd := &cobra.Command{
		Use:   "compare A.json B.json",
		Short: "Compare two run reports (A = reference, B = candidate)",
		Long: `Print the headline numbers of two report.json files side by side with their
deltas, memory per subscriber and a sweep's fit included. A number is
flagged as a regression when B is worse than A by more than --tolerance
(and by more than the metric's noise floor, e.g. 5ms for latencies); a
verdict going from pass to fail is one too. It is flagged as an
improvement when B is better by as much (same tolerance and floor). With
--fail-on-regression the exit code is 3 when anything regressed.`,
		Args:              exactArgs(2),
		ValidArgsFunction: completeJSONFiles,
		RunE: func(cmd *cobra.Command, args []string) error {
			tol, err := parseTolerance(tolerance)
			if err != nil {
				return err
			}
			if err := checkOutput(output); err != nil {
				return err
			}
			ra, err := report.ReadFile(args[0])
			if err != nil {
				return usageError(err)
			}
			rb, err := report.ReadFile(args[1])
			if err != nil {
				return usageError(err)
			}
			c := report.Compare(ra, rb, args[0], args[1], tol)
			if output != "" {
				err = writeOutput(a.out, output, c)
			} else {
				err = report.WriteComparison(a.out, c)
			}
			if err != nil {
				return err
			}
			if failOnReg && c.Regressions > 0 {
				return &exitError{code: exitCriteria, err: fmt.Errorf("%d regression(s) in %s against %s", c.Regressions, args[1], args[0])}
			}
			return nil
		},
	}
	addOutputFlag(cmd, &output)
	cmd.Flags().StringVar(&tolerance, "tolerance", "10%", "how much worse B may be before it is a regression (10% or 0.1)")
	cmd.Flags().BoolVar(&failOnReg, "fail-on-regression", false, "exit 3 when B regressed against A")
	return cmd
}

func parseTolerance(s string) (float64, error) {
	pct := strings.HasSuffix(s, "%")
	f, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if err != nil || f < 0 {
		return 0, usageErrorf("invalid --tolerance %q: use a percentage such as 10%% or a ratio such as 0.1", s)
	}
	if pct {
		f /= 100
	}
	return f, nil
}
