package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/dstload/dstload/provision"
	"github.com/dstload/dstload/provision/link"
	"github.com/dstload/dstload/provision/stack"
)

func newStatusCmd(a *app) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show each component of the environment: PID, address, health",
		Long: `Checks what the state file records without changing anything: each
process (is it still the one started: PID, start time, command line; does
its health endpoint answer), the fake nodes, the destination controller and
the Helm releases. Exits 1 when the environment exists but is not healthy.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			r, err := a.newLifecycle(link.Wrap(&stack.Hook{})).Status(cmd.Context())
			if err != nil {
				return provisionError(err)
			}
			if output != "" {
				if err := writeOutput(a.out, output, r); err != nil {
					return err
				}
			} else {
				printStatus(a, r)
			}
			if r.Exists && !r.Healthy {
				return fmt.Errorf("environment %q is not healthy", r.Name)
			}
			return nil
		},
	}
	addOutputFlag(cmd, &output)
	return cmd
}

func printStatus(a *app, r *provision.StatusReport) {
	if !r.Exists {
		fmt.Fprintf(a.out, "environment %q does not exist (state dir %s); create it with 'dstload up'\n", r.Name, r.Dir)
		return
	}
	health := "healthy"
	if !r.Healthy {
		health = "NOT healthy"
	}
	fmt.Fprintf(a.out, "environment %q: provider %s, phase %s, %s\n", r.Name, r.Provider, r.Phase, health)
	for i, c := range r.Clusters {
		dst := c.DestinationAddr
		if dst == "" {
			dst = "none"
		}
		fmt.Fprintf(a.out, "cluster %s%s: kubeconfig %s (context %s), destination %s\n", c.Name, clusterRole(r, i), c.Kubeconfig, c.Context, dst)
	}
	tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COMPONENT\tPID\tADDRESS\tHEALTH\tDETAIL")
	for _, c := range r.Components {
		name := c.Name
		if len(r.Clusters) > 1 {
			cl := c.Cluster
			if cl == "" {
				cl = r.Clusters[0].Name // the source's records keep a single cluster's key
			}
			name = cl + "/" + c.Name
		}
		pid := "-"
		if c.PID > 0 {
			pid = fmt.Sprint(c.PID)
		}
		addr := c.Address
		if addr == "" {
			addr = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", name, pid, addr, c.Health, oneLine(c.Detail))
	}
	tw.Flush()
	printMonitoring(a, r.Monitoring)
}

// printMonitoring shows the environment's Prometheus and its targets.
func printMonitoring(a *app, m *provision.MonitoringStatus) {
	if m == nil {
		return
	}
	fmt.Fprintf(a.out, "prometheus %s\n", m.URL)
	if m.Error != "" {
		fmt.Fprintf(a.out, "  scrape targets unavailable: %s\n", oneLine(m.Error))
		return
	}
	tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tTARGET\tHEALTH\tLAST SCRAPE\tERROR")
	for _, t := range m.Targets {
		last := t.LastScrape
		if last == "" {
			last = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.Job, t.URL, t.Health, last, oneLine(t.LastError))
	}
	tw.Flush()
}

// clusterRole names the part a cluster plays in a linked pair: the first is
// the source (its destination controller is the one under test), the second
// the target linked into it.
func clusterRole(r *provision.StatusReport, i int) string {
	switch {
	case len(r.Clusters) < 2:
		return ""
	case i == 0:
		return " (source)"
	default:
		return " (target)"
	}
}
