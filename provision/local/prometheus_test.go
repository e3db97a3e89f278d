package local

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/dstload/dstload/provision"
)

// requirePromtool is promtool on PATH; without it the test fails under CI
// (CI=true; .ci/run installs Debian's prometheus package) and is skipped
// elsewhere (localtest.RequirePrometheus, which this package cannot import).
func requirePromtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	switch {
	case err != nil && os.Getenv("CI") == "true":
		t.Fatalf("no promtool on PATH: %s", PrometheusHint)
	case err != nil:
		t.Skipf("no promtool on PATH (%s)", PrometheusHint)
	}
	return p
}

func TestResolvePrometheus(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "prometheus")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(t.TempDir(), "prometheus")
	if err := os.WriteFile(plain, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := t.TempDir()
	for _, tc := range []struct {
		name, flag, path string
		want, wantErr    string
	}{
		{"flag", exe, empty, exe, ""},
		{"PATH", "", dir, exe, ""},
		{"flag missing", "/nonexistent/prometheus", dir, "", "--prometheus-bin /nonexistent/prometheus is not an executable file; " + PrometheusHint},
		{"flag not executable", plain, dir, "", "is not an executable file"},
		{"none on PATH", "", empty, "", "no prometheus binary on PATH; " + PrometheusHint},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("PATH", tc.path)
			got, err := resolvePrometheus(tc.flag)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "apt-get install prometheus") {
					t.Fatalf("got %q, %v; want an error containing %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	// Validate is where up refuses, before anything is made.
	t.Setenv("PATH", empty)
	if err := New(Options{Monitoring: true, MonitoringSet: true}).Validate(); err == nil || !strings.Contains(err.Error(), "--prometheus-bin") {
		t.Fatalf("Validate without prometheus: %v", err)
	}
	if err := New(Options{MonitoringSet: true}).Validate(); err != nil {
		t.Fatalf("Validate without monitoring needs no prometheus: %v", err)
	}
}

// TestPrometheusConfig: the configuration dstload writes is one Prometheus
// accepts (promtool), its destination job is the one the dashboard's
// $destination variable matches, and the apiserver is scraped with the
// PKI's Prometheus client certificate.
func TestPrometheusConfig(t *testing.T) {
	promtool := requirePromtool(t)
	root := t.TempDir()
	l := layout{paths: envPaths(root), ports: map[string]int{portAPI: 16443, portKwok: 10247}}
	for _, dir := range []string{l.paths.pki, l.paths.config} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"ca.crt", "prometheus.crt", "prometheus.key"} {
		if err := os.WriteFile(l.pki(f), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c := prometheus(l, prometheusRun{bin: "/usr/bin/prometheus", port: 19090})
	if c.health != "http://127.0.0.1:19090/-/ready" || c.addr != "127.0.0.1:19090" {
		t.Errorf("health %s addr %s", c.health, c.addr)
	}
	path := l.config("prometheus.yml")
	if err := c.configs[0].write(path); err != nil {
		t.Fatal(err)
	}
	for _, job := range []string{JobDestination, JobDstload} {
		if err := writeTargets(l.targetsFile(job), nil); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command(promtool, "check", "config", path).CombinedOutput(); err != nil {
		t.Fatalf("promtool check config: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg promConfig
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	dashboardJob := regexp.MustCompile(`^.*destination.*$`) // the dashboard's $destination default
	jobs := map[string]scrapeConfig{}
	for _, sc := range cfg.ScrapeConfigs {
		jobs[sc.JobName] = sc
	}
	if _, ok := jobs[JobDestination]; !ok || !dashboardJob.MatchString(JobDestination) {
		t.Errorf("no destination job the dashboard matches: %v", jobs)
	}
	api := jobs[JobAPIServer]
	if api.Scheme != "https" || api.TLSConfig == nil || api.TLSConfig.KeyFile != l.pki("prometheus.key") ||
		len(api.StaticConfigs) != 1 || api.StaticConfigs[0].Targets[0] != "127.0.0.1:16443" {
		t.Errorf("apiserver job %+v", api)
	}
	if k := jobs[JobKwok]; len(k.StaticConfigs) != 1 || k.StaticConfigs[0].Targets[0] != "127.0.0.1:10247" {
		t.Errorf("kwok job %+v", k)
	}
}

func TestWriteRunTargets(t *testing.T) {
	dir := t.TempDir()
	file := layout{paths: envPaths(dir)}.targetsFile(JobDstload)
	st := &provision.State{}
	if err := WriteRunTargets(dir, st, map[string]string{"clients": "127.0.0.1:1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Fatalf("targets written without a Prometheus: %v", err)
	}
	st.SetProcess(provision.Process{Name: Prometheus, PID: 1, Addr: "127.0.0.1:9"})
	if got := PrometheusURL(st); got != "http://127.0.0.1:9" {
		t.Errorf("PrometheusURL = %q", got)
	}
	read := func() []TargetGroup {
		t.Helper()
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var g []TargetGroup
		if err := json.Unmarshal(raw, &g); err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		return g
	}
	if err := WriteRunTargets(dir, st, map[string]string{"clients": "127.0.0.1:1", "observer": "127.0.0.1:2"}); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, g := range read() {
		got[g.Labels["component"]] = strings.Join(g.Targets, ",")
	}
	if len(got) != 2 || got["clients"] != "127.0.0.1:1" || got["observer"] != "127.0.0.1:2" {
		t.Errorf("targets %v", got)
	}
	if err := WriteRunTargets(dir, st, nil); err != nil {
		t.Fatal(err)
	}
	if g := read(); len(g) != 0 {
		t.Errorf("targets after the run: %v", g)
	}
}

// TestNeedsChangeMonitoring: `up` states monitoring each time (on starts
// Prometheus, off stops it, another binary replaces it); a Lifecycle user
// that does not state it (dstload ab) keeps what is there.
func TestNeedsChangeMonitoring(t *testing.T) {
	state := func(prom string) *provision.State {
		st := &provision.State{}
		st.SetCluster(provision.Cluster{Name: "e"})
		if prom != "" {
			st.SetProcess(provision.Process{Name: Prometheus, PID: 1, Cmdline: []string{prom, "--config.file=x"}})
		}
		return st
	}
	for _, tc := range []struct {
		name       string
		opts       Options
		bin        string // what Validate found
		recorded   string
		wantChange bool
	}{
		{"off, none", Options{MonitoringSet: true}, "", "", false},
		{"on, none", Options{Monitoring: true, MonitoringSet: true}, "/usr/bin/prometheus", "", true},
		{"on, running", Options{Monitoring: true, MonitoringSet: true}, "/usr/bin/prometheus", "/usr/bin/prometheus", false},
		{"on, another binary", Options{Monitoring: true, MonitoringSet: true}, "/opt/prometheus", "/usr/bin/prometheus", true},
		{"off, running", Options{MonitoringSet: true}, "", "/usr/bin/prometheus", true},
		{"unstated, running", Options{}, "", "/usr/bin/prometheus", false},
		{"unstated, none", Options{}, "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := New(tc.opts)
			p.prometheusBin = tc.bin
			if got := p.NeedsChange(state(tc.recorded)); got != tc.wantChange {
				t.Errorf("NeedsChange = %v, want %v", got, tc.wantChange)
			}
		})
	}
}

// TestPrometheusPort: the port is picked once and kept while it is free;
// one taken by another program is replaced (and recorded).
func TestPrometheusPort(t *testing.T) {
	st := &provision.State{}
	d := &data{Ports: map[string]int{portAPI: 1}}
	saves := 0
	save := func(*provision.State) error { saves++; return nil }
	first, err := prometheusPort(st, d, save)
	if err != nil || first == 0 || d.Ports[portPrometheus] != first || saves != 1 {
		t.Fatalf("first pick %d, %v, ports %v, %d saves", first, err, d.Ports, saves)
	}
	if again, err := prometheusPort(st, d, save); err != nil || again != first {
		t.Fatalf("free port not kept: %d, %v (had %d)", again, err, first)
	}
	l, err := net.Listen("tcp", loopback(first))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	other, err := prometheusPort(st, d, save)
	if err != nil || other == first || d.Ports[portPrometheus] != other {
		t.Fatalf("taken port %d: got %d, %v, ports %v", first, other, err, d.Ports)
	}
	rec, err := loadData(st)
	if err != nil || rec.Ports[portPrometheus] != other {
		t.Fatalf("port not recorded in the state: %+v %v", rec, err)
	}
}
