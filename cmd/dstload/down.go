package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/dstload/dstload/provision/stack"
)

func newDownCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "down",
		Short: "Remove everything 'up' created",
		Long: `Removes exactly what the environment's state file records: supervised
processes are stopped (and verified gone by PID), clusters deleted, files
removed. Works after a partial 'up' and succeeds when nothing exists. With
provider kubeconfig only dstload's releases are removed, never the cluster.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := a.newLifecycle(&stack.Hook{}).Down(cmd.Context())
			if err != nil {
				return provisionError(err)
			}
			if res.NothingToRemove {
				fmt.Fprintf(a.out, "environment %q does not exist; nothing to remove\n", a.envName)
				return nil
			}
			fmt.Fprintf(a.out, "environment %q removed (provider %s)\n", a.envName, res.Provider)
			return nil
		},
	}
}
