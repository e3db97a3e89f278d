package main

import (
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
			if err := checkOutput(output); err != nil {
				return err
			}
			switch output {
			case "":
				_, err := fmt.Fprintln(a.out, versionLine())
				return err
			default:
				return writeOutput(a.out, output, v)
			}
		},
	}
	addOutputFlag(cmd, &output)
	return cmd
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

// versionLine is the one-line version: dstload v1.2.3 (rev) go1.26 linux/amd64.
func versionLine() string {
	v := version.Get()
	s := "dstload " + v.Version
	if v.Revision != "" {
		s += " (" + v.Revision + ")"
	}
	return s + " " + v.GoVersion + " " + v.Platform
}
