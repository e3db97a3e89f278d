package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/dstload/dstload/workload/scenario"
)

func newScenariosCmd(a *app) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "scenarios",
		Short: "List the scenario catalogue with shapes and criteria",
		Long: `List the embedded scenarios that 'dstload run NAME' accepts,
with their shapes and success criteria. 'dstload run' also takes a path to
your own scenario file in the same format.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			all, err := scenario.Catalogue()
			if err != nil {
				return err
			}
			switch output {
			case "":
				tw := tabwriter.NewWriter(a.out, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tSHAPE\tCRITERIA")
				for _, s := range all {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Name, s.Shape(), s.CriteriaSummary())
				}
				return tw.Flush()
			case "json":
				type item struct {
					Name        string `json:"name"`
					Description string `json:"description"`
					Shape       string `json:"shape"`
					Criteria    string `json:"criteria"`
				}
				items := make([]item, len(all))
				for i, s := range all {
					items[i] = item{s.Name, s.Description, s.Shape(), s.CriteriaSummary()}
				}
				return writeJSON(a.out, items)
			default:
				return badOutput(output)
			}
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json")
	return cmd
}
