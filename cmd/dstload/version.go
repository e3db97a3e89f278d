package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/dstload/dstload/version"
)

func newVersionCmd(a *app) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the dstload version",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			v := version.Get()
			switch output {
			case "":
				fmt.Fprintf(a.out, "dstload %s", v.Version)
				if v.Revision != "" {
					fmt.Fprintf(a.out, " (%s)", v.Revision)
				}
				fmt.Fprintf(a.out, " %s %s\n", v.GoVersion, v.Platform)
				return nil
			case "json":
				return writeJSON(a.out, v)
			default:
				return badOutput(output)
			}
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json")
	return cmd
}

func badOutput(o string) error {
	return usageErrorf("invalid --output %q: use json or leave it out", o)
}

func writeJSON(w interface{ Write([]byte) (int, error) }, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// noArgs is cobra.NoArgs with a usage exit code.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErrorf("%s takes no arguments, got %q", cmd.CommandPath(), args[0])
	}
	return nil
}

// exactArgs is cobra.ExactArgs with a usage exit code.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageErrorf("%s takes %d argument(s), got %d; see '%s --help'", cmd.CommandPath(), n, len(args), cmd.CommandPath())
		}
		return nil
	}
}
