package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/dstload/dstload/provision"
	"github.com/dstload/dstload/provision/local"
	"github.com/dstload/dstload/provision/stack"
)

// Environment files: everything `up` takes, in one file a team can keep
// beside its scenarios. `up --config FILE` reads one (flags given on the
// command line win); every successful `up` writes the resolved one, chart
// versions pinned, to <env dir>/environment.yaml, which `dstload env
// export` prints and `run` copies beside each report.
const (
	envAPIVersion = "dstload.io/v1alpha1"
	envKind       = "Environment"
	envFileName   = "environment.yaml"
)

type envFile struct {
	APIVersion  string         `yaml:"apiVersion"`
	Kind        string         `yaml:"kind"`
	Provider    string         `yaml:"provider,omitempty"`
	Clusters    int            `yaml:"clusters,omitempty"`
	Nodes       int            `yaml:"nodes,omitempty"`
	APIPort     int            `yaml:"apiPort,omitempty"`
	BinDir      string         `yaml:"binDir,omitempty"`
	Kubeconfig  string         `yaml:"kubeconfig,omitempty"`
	Context     string         `yaml:"context,omitempty"`
	Destination envDestination `yaml:"destination,omitempty"`
	Stack       envStack       `yaml:"stack,omitempty"`
}

type envDestination struct {
	Bin   string   `yaml:"bin,omitempty"`
	Args  []string `yaml:"args,omitempty"`
	Addr  string   `yaml:"addr,omitempty"`
	Image string   `yaml:"image,omitempty"`
}

type envStack struct {
	Disabled      bool                `yaml:"disabled,omitempty"`
	Monitoring    bool                `yaml:"monitoring,omitempty"`
	PrometheusBin string              `yaml:"prometheusBin,omitempty"`
	ChartMirror   string              `yaml:"chartMirror,omitempty"`
	ChartVersions map[string]string   `yaml:"chartVersions,omitempty"`
	Values        map[string][]string `yaml:"values,omitempty"`
	Set           map[string][]string `yaml:"set,omitempty"`
	ReadyTimeout  time.Duration       `yaml:"readyTimeout,omitempty"`
}

// readEnvFile parses path strictly: an unknown field or a wrong type is
// an error naming the line. Relative paths are relative to the file.
func readEnvFile(path string) (*envFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("environment file: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var f envFile
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("environment file %s is empty: start from 'dstload env export'", path)
		}
		return nil, fmt.Errorf("environment file %s: %s", path, oneLine(strings.TrimPrefix(err.Error(), "yaml: ")))
	}
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("environment file %s: %s: %s", path, field, fmt.Sprintf(format, args...))
	}
	switch {
	case f.APIVersion != envAPIVersion:
		return nil, bad("apiVersion", "want %s, got %q", envAPIVersion, f.APIVersion)
	case f.Kind != envKind:
		return nil, bad("kind", "want %s, got %q", envKind, f.Kind)
	case f.Clusters < 0:
		return nil, bad("clusters", "must be 1 or more, got %d", f.Clusters)
	case f.Nodes < 0:
		return nil, bad("nodes", "must be 1 or more, got %d", f.Nodes)
	case f.APIPort < 0 || f.APIPort > 65535:
		return nil, bad("apiPort", "must be a port (1-65535) or 0, got %d", f.APIPort)
	case f.Stack.ReadyTimeout < 0:
		return nil, bad("stack.readyTimeout", "must be positive, got %s", f.Stack.ReadyTimeout)
	}
	base := filepath.Dir(path)
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) || strings.Contains(p, "://") {
			return p
		}
		return filepath.Join(base, p)
	}
	f.BinDir, f.Kubeconfig, f.Destination.Bin, f.Stack.ChartMirror = abs(f.BinDir), abs(f.Kubeconfig), abs(f.Destination.Bin), abs(f.Stack.ChartMirror)
	for rel, files := range f.Stack.Values {
		for i := range files {
			files[i] = abs(files[i])
		}
		f.Stack.Values[rel] = files
	}
	return &f, nil
}

// apply sets every option the command line did not set from the file.
func (f *envFile) apply(cmd *cobra.Command, o *upOptions) {
	set := func(flag string) bool { return !cmd.Flags().Changed(flag) }
	if set("provider") && f.Provider != "" {
		o.provider = f.Provider
	}
	if set("clusters") && f.Clusters > 0 {
		o.cfg.Clusters = f.Clusters
	}
	if set("nodes") && f.Nodes > 0 {
		o.cfg.Nodes = f.Nodes
	}
	if set("api-port") && f.APIPort > 0 {
		o.cfg.APIPort = f.APIPort
	}
	if set("bin-dir") && f.BinDir != "" {
		o.cfg.BinDir = f.BinDir
	}
	if set("kubeconfig") && f.Kubeconfig != "" {
		o.cfg.Kubeconfig = f.Kubeconfig
	}
	if set("context") && f.Context != "" {
		o.cfg.Context = f.Context
	}
	d := f.Destination
	if set("destination-bin") && set("destination-addr") {
		o.cfg.DestinationBin, o.cfg.DestinationAddr = d.Bin, d.Addr
	}
	if set("destination-arg") && d.Args != nil {
		o.cfg.DestinationArgs, o.cfg.DestinationArgsSet = d.Args, true
	}
	if set("destination-image") && d.Image != "" {
		o.cfg.DestinationImage = d.Image
	}
	s := f.Stack
	if set("no-stack") {
		o.noStack = s.Disabled
	}
	if set("monitoring") {
		o.monitoring = s.Monitoring
	}
	if set("prometheus-bin") && s.PrometheusBin != "" {
		o.cfg.PrometheusBin = s.PrometheusBin
	}
	if set("chart-mirror") && s.ChartMirror != "" {
		o.mirror = s.ChartMirror
	}
	if set("ready-timeout") && s.ReadyTimeout > 0 {
		o.timeout = s.ReadyTimeout
	}
	if set("chart-version") {
		for _, rel := range slices.Sorted(maps.Keys(s.ChartVersions)) {
			o.versions = append(o.versions, rel+"="+s.ChartVersions[rel])
		}
	}
	if set("values") {
		for _, rel := range slices.Sorted(maps.Keys(s.Values)) {
			for _, file := range s.Values[rel] {
				o.values = append(o.values, rel+"="+file)
			}
		}
	}
	if set("set") {
		for _, rel := range slices.Sorted(maps.Keys(s.Set)) {
			for _, v := range s.Set[rel] {
				o.set = append(o.set, rel+"."+v)
			}
		}
	}
}

// resolvedEnvFile is the file that reproduces what `up` just made: the
// provider it chose, every chart version pinned, absolute paths.
func resolvedEnvFile(o *upOptions, st *provision.State, userValues, userSet map[string][]string, versions map[string]string) *envFile {
	absPath := func(p string) string {
		if p == "" || strings.Contains(p, "://") {
			return p
		}
		if a, err := filepath.Abs(p); err == nil {
			return a
		}
		return p
	}
	f := &envFile{APIVersion: envAPIVersion, Kind: envKind, Provider: o.provider, Clusters: o.cfg.Clusters, Nodes: o.cfg.Nodes,
		APIPort: o.cfg.APIPort, BinDir: absPath(o.cfg.BinDir), Kubeconfig: absPath(o.cfg.Kubeconfig), Context: o.cfg.Context,
		Destination: envDestination{Bin: absPath(o.cfg.DestinationBin), Args: o.cfg.DestinationArgs, Addr: o.cfg.DestinationAddr, Image: o.cfg.DestinationImage},
		Stack:       envStack{Disabled: o.noStack, Monitoring: o.monitoring, ChartMirror: absPath(o.mirror), ReadyTimeout: o.timeout}}
	// The destination as the environment has it: a plain `up` keeps the
	// recorded one without any --destination flag.
	if c := st.Cluster(""); c != nil {
		switch c.DestinationSource {
		case "process":
			f.Destination.Bin, f.Destination.Args, f.Destination.Addr = c.DestinationBin, c.DestinationArgs, ""
		case "external":
			f.Destination.Bin, f.Destination.Args, f.Destination.Addr = "", nil, c.DestinationAddr
		}
	}
	if f.Provider != "local" {
		f.Destination.Image = "" // only local takes the controller from an image
	}
	// The Prometheus binary local --monitoring found (flag or PATH).
	if p := st.Process("", local.Prometheus); p != nil && len(p.Cmdline) > 0 {
		f.Stack.PrometheusBin = p.Cmdline[0]
	}
	if !o.noStack {
		f.Stack.ChartVersions = map[string]string{}
		for _, r := range stack.Releases() {
			f.Stack.ChartVersions[r.Name] = r.Version
		}
		maps.Copy(f.Stack.ChartVersions, versions)
		f.Stack.Set = userSet
		for rel, files := range userValues {
			if f.Stack.Values == nil {
				f.Stack.Values = map[string][]string{}
			}
			for _, file := range files {
				f.Stack.Values[rel] = append(f.Stack.Values[rel], absPath(file))
			}
		}
	}
	return f
}

func (f *envFile) write(path string) error {
	var b bytes.Buffer
	b.WriteString("# dstload environment: 'dstload up --config FILE' makes it again.\n")
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(f); err != nil {
		return fmt.Errorf("encode environment file: %w", err)
	}
	// 0600: values files may be named after secrets; the state dir is 0700.
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		return fmt.Errorf("write environment file: %w", err)
	}
	return nil
}

func newEnvCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "env",
		Short: "Environment files: reproduce an environment with 'up --config'",
		Args:  noArgs,
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "export",
		Short: "Print the environment file that reproduces this environment",
		Long: `Prints the environment file the last successful 'dstload up' wrote: the
provider it chose, clusters, nodes, the destination controller (binary,
args, address or image), the stack settings with every chart version
pinned. 'dstload up --config FILE' on a fresh state dir makes the same
environment again.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := os.ReadFile(filepath.Join(a.envDir(), envFileName))
			if errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("environment %q has no environment file in %s: run 'dstload up' first", a.envName, a.envDir())
			}
			if err != nil {
				return err
			}
			_, err = a.out.Write(b)
			return err
		},
	})
	return cmd
}

// linkerdChartVersion is the linkerd-control-plane chart version the
// environment file records ("" without one, or without the stack).
func (a *app) linkerdChartVersion() string {
	f, err := readEnvFile(filepath.Join(a.envDir(), envFileName))
	if err != nil {
		return ""
	}
	return f.Stack.ChartVersions["linkerd-control-plane"]
}

// copyEnvFile puts the environment file beside a run's report, so the
// report says what it ran on and how to make that again.
func (a *app) copyEnvFile(outDir string) error {
	b, err := os.ReadFile(filepath.Join(a.envDir(), envFileName))
	if errors.Is(err, os.ErrNotExist) {
		return nil // an environment from before environment files
	}
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(outDir, envFileName), b, 0o600); err != nil {
		return fmt.Errorf("copy the environment file beside the report: %w", err)
	}
	return nil
}
