package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"sigs.k8s.io/yaml"

	"github.com/dstload/dstload/workload/scenario"
)

// TestOutputFormats checks every reporting command's -o json and -o yaml:
// both parse, carry the same content, hold the fields a script reads, and
// print "<" as "<".
func TestOutputFormats(t *testing.T) {
	dir := t.TempDir()
	trust := filepath.Join(dir, "tr")
	if code, _, errOut := runCLI(t, "certs", "generate", "--dir", trust); code != 0 {
		t.Fatalf("certs generate: %s", errOut)
	}
	state := filepath.Join(dir, "state")
	tests := []struct {
		name string
		args []string
		want []string // JSON paths a script reads, as dotted keys of the first object
	}{
		{"version", []string{"version"}, []string{"version", "goVersion"}},
		{"scenarios", []string{"scenarios"}, []string{"name", "shape", "criteria"}},
		{"scenarios metrics", []string{"scenarios", "metrics"}, []string{"name", "unit", "doc"}},
		{"scenarios show", []string{"scenarios", "show", "small-oscillation", "--scale", "0.05"}, []string{"name", "churn", "criteria"}},
		{"certs inspect", []string{"certs", "inspect", "--dir", trust}, []string{"valid", "anchor"}},
		{"status", []string{"status", "--state-dir", state, "--name", "none"}, []string{"name", "exists"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, js, errOut := runCLI(t, append(tt.args, "-o", "json")...)
			if code != 0 {
				t.Fatalf("-o json: exit %d: %s", code, errOut)
			}
			code, ys, errOut := runCLI(t, append(tt.args, "-o", "yaml")...)
			if code != 0 {
				t.Fatalf("-o yaml: exit %d: %s", code, errOut)
			}
			var fromJSON, fromYAML any
			if err := json.Unmarshal([]byte(js), &fromJSON); err != nil {
				t.Fatalf("-o json does not parse: %v\n%s", err, js)
			}
			if err := yaml.Unmarshal([]byte(ys), &fromYAML); err != nil {
				t.Fatalf("-o yaml does not parse: %v\n%s", err, ys)
			}
			if !reflect.DeepEqual(fromJSON, fromYAML) {
				t.Errorf("json and yaml differ:\n%s\n---\n%s", js, ys)
			}
			if strings.Contains(js, `\u003c`) || strings.Contains(js, `\u003e`) {
				t.Errorf("json escapes < or >:\n%s", js)
			}
			first := fromJSON
			if l, ok := first.([]any); ok {
				if len(l) == 0 {
					t.Fatalf("empty list:\n%s", js)
				}
				first = l[0]
			}
			m, ok := first.(map[string]any)
			if !ok {
				t.Fatalf("not an object:\n%s", js)
			}
			for _, k := range tt.want {
				if _, ok := m[k]; !ok {
					t.Errorf("field %q missing:\n%s", k, js)
				}
			}
			if code, _, errOut := runCLI(t, append(tt.args, "-o", "xml")...); code != exitUsage || !strings.Contains(errOut, `invalid --output "xml"`) {
				t.Errorf("-o xml: exit %d: %s", code, errOut)
			}
		})
	}
}

// TestScenariosShowRoundTrip: what show prints is a scenario file that
// run reads back to the same scenario.
func TestScenariosShowRoundTrip(t *testing.T) {
	for _, name := range []string{"baseline", "small-oscillation", "red-line"} {
		t.Run(name, func(t *testing.T) {
			args := []string{"scenarios", "show", name, "--scale", "0.1"}
			if name != "baseline" {
				args = append(args, "--cycles", "1", "--hold", "30s")
			}
			code, out, errOut := runCLI(t, args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			p := filepath.Join(t.TempDir(), "mine.yaml")
			if err := os.WriteFile(p, []byte(out), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := scenario.Load(p)
			if err != nil {
				t.Fatalf("shown scenario does not load: %v\n%s", err, out)
			}
			base, err := scenario.Load(name)
			if err != nil {
				t.Fatal(err)
			}
			o := scenario.NoOverrides()
			o.Scale = 0.1
			if base.Churn.Pattern == scenario.PatternOscillate {
				o.Cycles, o.HoldMax, o.HoldMin = 1, 30*time.Second, 30*time.Second
			}
			want, err := base.Apply(o)
			if err != nil {
				t.Fatal(err)
			}
			got.Source, want.Source = "", ""
			if !reflect.DeepEqual(got, want) {
				t.Errorf("round trip changed the scenario:\n got %+v\nwant %+v", got, want)
			}
		})
	}
	if code, _, errOut := runCLI(t, "scenarios", "show", "nope"); code != exitUsage || !strings.Contains(errOut, "no such scenario") {
		t.Errorf("unknown scenario: exit %d: %s", code, errOut)
	}
}

func TestFlagCompletion(t *testing.T) {
	tests := []struct {
		args []string
		want []string
		not  []string
	}{
		{[]string{"run", "sm"}, []string{"small-oscillation\t"}, []string{"baseline"}},
		{[]string{"run", "./my"}, []string{"yaml", ":8"}, nil}, // no name matches: scenario files
		{[]string{"up", "--provider", ""}, []string{"k3d", "local", "kubeconfig"}, nil},
		{[]string{"run", "baseline", "--plot-format", ""}, []string{"svg", "png"}, nil},
		{[]string{"status", "-o", ""}, []string{"json", "yaml"}, nil},
		{[]string{"version", "--log-level", ""}, []string{"debug", "error"}, nil},
		{[]string{"up", "--values", "link"}, []string{"linkerd-control-plane="}, []string{"kwok="}},
		{[]string{"compare", ""}, []string{"json", ":8"}, nil},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out, errOut := runCLI(t, append([]string{"__complete"}, tt.args...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("completion lacks %q:\n%s", w, out)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(out, n) {
					t.Errorf("completion offers %q:\n%s", n, out)
				}
			}
		})
	}
}

func TestRootVersionFlag(t *testing.T) {
	code, out, _ := runCLI(t, "--version")
	_, want, _ := runCLI(t, "version")
	if code != 0 || out != want || !strings.HasPrefix(out, "dstload ") {
		t.Fatalf("--version: exit %d %q, version prints %q", code, out, want)
	}
}

// TestFlagNames walks the command tree: a flag name means one thing
// (one type) on every command that has it, the retired synonyms exist only
// as deprecated aliases, the admin ports of churn and client (which may
// share a host) differ, and the environment flags appear only on the
// commands that act on an environment.
func TestFlagNames(t *testing.T) {
	var buf strings.Builder
	root := newRootCmd(&app{out: &buf, errOut: &buf})
	type seen struct{ typ, cmd string }
	byName := map[string]seen{}
	retired := map[string]string{"destination": "destination-addr", "hold-max": "hold", "hold-min": "hold", "stack-timeout": "ready-timeout", "records-dir": "out"}
	admin := map[string]string{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if want, ok := retired[f.Name]; ok && f.Deprecated == "" {
				t.Errorf("%s --%s: use --%s (or keep it only as a deprecated alias)", c.CommandPath(), f.Name, want)
			}
			if s, ok := byName[f.Name]; ok && s.typ != f.Value.Type() {
				t.Errorf("--%s is a %s on %s but a %s on %s", f.Name, s.typ, s.cmd, f.Value.Type(), c.CommandPath())
			}
			byName[f.Name] = seen{f.Value.Type(), c.CommandPath()}
			if f.Name == "metrics-addr" {
				admin[c.Name()] = f.DefValue
			}
		})
		hasEnv := envCommandNames()[topCommand(c).Name()]
		if got := c.Flags().Lookup("state-dir") != nil; got != hasEnv && c.HasParent() {
			t.Errorf("%s: --state-dir present %t, want %t", c.CommandPath(), got, hasEnv)
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	if admin["churn"] == "" || admin["churn"] == admin["client"] {
		t.Errorf("churn and client default --metrics-addr to %q and %q: they clash on one host", admin["churn"], admin["client"])
	}
	if len(byName) < 50 {
		t.Fatalf("walked only %d flag names", len(byName))
	}
}

func TestDashboardCmd(t *testing.T) {
	code, out, errOut := runCLI(t, "dashboard")
	var d struct {
		UID    string           `json:"uid"`
		Panels []map[string]any `json:"panels"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &d) != nil || d.UID != "dstload-destination" || len(d.Panels) == 0 {
		t.Fatalf("dashboard: exit %d %s\n%.300s", code, errOut, out)
	}
}
