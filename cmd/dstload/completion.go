package main

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/dstload/dstload/provision/stack"
	"github.com/dstload/dstload/workload/scenario"
)

// flagValues are the fixed values of flags that appear on several
// commands; registerCompletions offers them wherever the flag is defined.
var flagValues = map[string][]string{
	"provider":    {"k3d", "local", "kubeconfig"},
	"plot-format": {"svg", "png"},
	"output":      {outputJSON, outputYAML},
	"log-level":   {"debug", "info", "warn", "error"},
	"log-format":  {"text", "json"},
}

// registerCompletions walks the command tree once it is built, so each
// command file declares its flags and nothing else: a flag named in
// flagValues completes to those values, --values and --chart-version to
// "release=", and the commands taking files complete their kinds of file.
func registerCompletions(cmd *cobra.Command) {
	for name, vals := range flagValues {
		fs := cmd.LocalNonPersistentFlags()
		if cmd.HasParent() == false {
			fs = cmd.PersistentFlags()
		}
		if fs.Lookup(name) != nil {
			_ = cmd.RegisterFlagCompletionFunc(name, cobra.FixedCompletions(vals, cobra.ShellCompDirectiveNoFileComp))
		}
	}
	for _, name := range []string{"values", "chart-version"} {
		if cmd.LocalNonPersistentFlags().Lookup(name) != nil {
			_ = cmd.RegisterFlagCompletionFunc(name, completeReleaseKey)
		}
	}
	for _, c := range cmd.Commands() {
		registerCompletions(c)
	}
}

// completeScenarios offers catalogue names; once the word cannot be one
// (it names a path), scenario files.
func completeScenarios(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	all, err := scenario.Catalogue()
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	var names []string
	for _, s := range all {
		if strings.HasPrefix(s.Name, toComplete) {
			names = append(names, s.Name+"\t"+s.Description)
		}
	}
	if len(names) > 0 {
		return names, cobra.ShellCompDirectiveNoFileComp
	}
	return []string{"yaml", "yml"}, cobra.ShellCompDirectiveFilterFileExt
}

// completeJSONFiles offers report.json files (compare).
func completeJSONFiles(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if len(args) >= 2 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return []string{"json"}, cobra.ShellCompDirectiveFilterFileExt
}

// completeReleaseKey offers "release=" for --values and --chart-version;
// after the "=", --values completes files and --chart-version nothing.
func completeReleaseKey(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if strings.Contains(toComplete, "=") {
		return nil, cobra.ShellCompDirectiveDefault
	}
	var out []string
	for _, r := range stack.ReleaseNames() {
		if strings.HasPrefix(r, toComplete) {
			out = append(out, r+"=")
		}
	}
	return out, cobra.ShellCompDirectiveNoSpace | cobra.ShellCompDirectiveNoFileComp
}
