package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/klog/v2"
)

// app is what every command shares: output streams, the logger and the
// global flags. It replaces package-level state.
type app struct {
	out, errOut io.Writer
	log         *slog.Logger

	logFormat string
	logLevel  string
	quiet     bool
	// prog is the progress writer, made once (progress.go): a terminal's
	// in-place status line needs one writer that remembers it.
	prog     io.Writer
	stateDir string
	envName  string
}

// envDir is the state directory of the selected environment.
func (a *app) envDir() string { return filepath.Join(a.stateDir, a.envName) }

func run(ctx context.Context, args []string, out, errOut io.Writer) int {
	a := &app{out: out, errOut: errOut, log: slog.New(slog.NewTextHandler(errOut, nil))}
	root := newRootCmd(a)
	root.SetArgs(args)
	root.SetOut(out)
	root.SetErr(errOut)
	err := root.ExecuteContext(ctx)
	if err != nil {
		fmt.Fprintln(errOut, "dstload: "+oneLine(err.Error()))
		// What went wrong after the reason (a failed cleanup) comes after it.
		for _, l := range afterLines(err) {
			fmt.Fprintln(errOut, "dstload: "+oneLine(l))
		}
	}
	return exitCode(err)
}

// oneLine keeps error output to the single line the user reads.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "dstload",
		Short: "Load-test Linkerd's destination service",
		Long: `dstload gives Linkerd's destination service a reproducible load-test
environment and a verdict.

  dstload up            # cluster + trust root + Linkerd + KWOK
  dstload run baseline  # churn + client load, measured, judged, reported
  dstload down          # everything gone`,
		// --version prints what 'dstload version' prints.
		Version:       versionLine(),
		SilenceErrors: true,
		SilenceUsage:  true,
		// Without this cobra prints its own "unknown command" text and exits 1.
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErrorf("unknown command %q; run 'dstload --help' for the list", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			return a.setupLogging(cmd)
		},
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usageErrorf("%v; see '%s --help'", err, cmd.CommandPath())
	})

	fs := root.PersistentFlags()
	fs.StringVar(&a.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&a.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.BoolVarP(&a.quiet, "quiet", "q", false, "no progress lines, and only warnings and errors logged (results and errors still print)")

	root.AddCommand(
		newVersionCmd(a),
		newCertsCmd(a),
		newUpCmd(a),
		newDownCmd(a),
		newStatusCmd(a),
		newScenariosCmd(a),
		newRunCmd(a),
		newCompareCmd(a),
		newABCmd(a),
		newChurnCmd(a),
		newObserveCmd(a),
		newClientCmd(a),
		newEnvCmd(a),
		newDashboardCmd(a),
	)
	// --name and --state-dir only where an environment is read or made:
	// on compare, scenarios or churn they would mean nothing.
	env := envCommandNames()
	for _, c := range root.Commands() {
		if env[c.Name()] {
			c.PersistentFlags().StringVar(&a.stateDir, "state-dir", defaultStateDir(), "directory holding every environment's state (env DSTLOAD_HOME)")
			c.PersistentFlags().StringVar(&a.envName, "name", "dstload", "environment name")
		}
	}
	registerCompletions(root)
	return root
}

// envCommandNames are the commands that act on an environment.
func envCommandNames() map[string]bool {
	return map[string]bool{"up": true, "down": true, "status": true, "run": true, "certs": true, "env": true, "ab": true}
}

func (a *app) setupLogging(cmd *cobra.Command) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(a.logLevel)); err != nil {
		return usageErrorf("invalid --log-level %q: use debug, info, warn or error", a.logLevel)
	}
	if a.quiet && level < slog.LevelWarn {
		level = slog.LevelWarn
	}
	opts := &slog.HandlerOptions{Level: level}
	switch a.logFormat {
	case "text":
		a.log = slog.New(slog.NewTextHandler(a.errOut, opts))
	case "json":
		a.log = slog.New(slog.NewJSONHandler(a.errOut, opts))
	default:
		return usageErrorf("invalid --log-format %q: use text or json", a.logFormat)
	}
	// client-go logs through klog; send it to the same handler and format.
	klog.SetSlogLogger(a.log)
	if envCommandNames()[topCommand(cmd).Name()] && (a.envName == "" || strings.ContainsAny(a.envName, `/\`) || a.envName == "." || a.envName == "..") {
		return usageErrorf("invalid --name %q: use a plain name such as dstload", a.envName)
	}
	return nil
}

// defaultStateDir follows the XDG base directory spec, overridable with
// DSTLOAD_HOME.
func defaultStateDir() string {
	if d := os.Getenv("DSTLOAD_HOME"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "dstload")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", "dstload")
	}
	return filepath.Join(os.TempDir(), "dstload")
}

// topCommand is cmd's ancestor just below the root (cmd itself if it is one).
func topCommand(cmd *cobra.Command) *cobra.Command {
	for cmd.HasParent() && cmd.Parent().HasParent() {
		cmd = cmd.Parent()
	}
	return cmd
}
