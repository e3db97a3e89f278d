package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/dstload/dstload/provision"
)

// Prometheus is the supervised Prometheus server of `up --monitoring`.
const Prometheus = "prometheus"

// PrometheusHint is the fix for a missing Prometheus binary.
const PrometheusHint = "pass --prometheus-bin PATH or install it (apt-get install prometheus)"

// Scrape settings: short enough that a CI run of a minute has points to
// query, long enough that the apiserver's large /metrics costs little.
const (
	scrapeInterval    = "2s"
	apiScrapeInterval = "5s"
	// sdRefresh is how often Prometheus rereads its file_sd files when it
	// misses a change notification.
	sdRefresh = "5s"
)

// Job names of the scrape configuration. The dashboard's $destination
// variable matches .*destination.*; the dstload_* panels match no job.
const (
	JobDestination = "destination"
	JobAPIServer   = "kube-apiserver"
	JobKwok        = "kwok"
	JobDstload     = "dstload"
)

// prometheusRun is what one start of Prometheus decides: the binary and
// its port.
type prometheusRun struct {
	bin  string
	port int
}

// prometheusDir holds the TSDB (data/) and the file_sd files (targets/).
func (l layout) prometheusDir() string { return filepath.Join(l.paths.root, "prometheus") }

// targetsFile is the file_sd file of a job.
func (l layout) targetsFile(job string) string {
	return filepath.Join(l.prometheusDir(), "targets", job+".json")
}

// prometheus is a Prometheus server on loopback. Every target it scrapes
// whose address changes while it runs (the destination controller, a run's
// processes) comes from a file_sd file, so that dstload rewrites a file
// instead of restarting or reloading it.
func prometheus(l layout, r prometheusRun) component {
	addr := loopback(r.port)
	return component{
		name: Prometheus,
		argv: []string{r.bin,
			"--config.file=" + l.config("prometheus.yml"),
			"--storage.tsdb.path=" + filepath.Join(l.prometheusDir(), "data"),
			"--web.listen-address=" + addr,
			"--storage.tsdb.retention.time=7d",
			"--log.level=warn",
		},
		addr: addr, health: "http://" + addr + "/-/ready",
		ports: map[string]int{"http": r.port},
		// The apiserver's /metrics: Kubernetes binds the group
		// system:monitoring to a role that may read it (and nothing else).
		clients: []clientIdentity{{"prometheus", "dstload-prometheus", []string{"system:monitoring"}}},
		configs: []configFile{{"prometheus.yml", func(path string) error { return writePrometheusConfig(l, path) }}},
	}
}

// Prometheus' configuration format, the part dstload writes.
type (
	promConfig struct {
		Global        promGlobal     `json:"global"`
		ScrapeConfigs []scrapeConfig `json:"scrape_configs"`
	}
	promGlobal struct {
		ScrapeInterval string `json:"scrape_interval"`
		ScrapeTimeout  string `json:"scrape_timeout"`
	}
	scrapeConfig struct {
		JobName        string         `json:"job_name"`
		ScrapeInterval string         `json:"scrape_interval,omitempty"`
		Scheme         string         `json:"scheme,omitempty"`
		TLSConfig      *tlsConfig     `json:"tls_config,omitempty"`
		StaticConfigs  []TargetGroup  `json:"static_configs,omitempty"`
		FileSDConfigs  []fileSDConfig `json:"file_sd_configs,omitempty"`
	}
	tlsConfig struct {
		CAFile   string `json:"ca_file"`
		CertFile string `json:"cert_file"`
		KeyFile  string `json:"key_file"`
	}
	fileSDConfig struct {
		Files           []string `json:"files"`
		RefreshInterval string   `json:"refresh_interval"`
	}
)

// TargetGroup is one entry of a file_sd file (and of static_configs).
type TargetGroup struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels,omitempty"`
}

// writePrometheusConfig writes prometheus.yml: the apiserver (TLS with the
// client certificate the PKI issued for Prometheus; the key stays in the
// PKI directory, 0600) and kwok on their recorded ports, the destination
// controller and dstload's run processes from file_sd files.
func writePrometheusConfig(l layout, path string) error {
	fileSD := func(job string) []fileSDConfig {
		return []fileSDConfig{{Files: []string{l.targetsFile(job)}, RefreshInterval: sdRefresh}}
	}
	cfg := promConfig{
		Global: promGlobal{ScrapeInterval: scrapeInterval, ScrapeTimeout: scrapeInterval},
		ScrapeConfigs: []scrapeConfig{
			{JobName: JobDestination, FileSDConfigs: fileSD(JobDestination)},
			{JobName: JobAPIServer, ScrapeInterval: apiScrapeInterval, Scheme: "https",
				TLSConfig:     &tlsConfig{CAFile: l.pki("ca.crt"), CertFile: l.pki("prometheus.crt"), KeyFile: l.pki("prometheus.key")},
				StaticConfigs: []TargetGroup{{Targets: []string{loopback(l.ports[portAPI])}}}},
			{JobName: JobKwok, StaticConfigs: []TargetGroup{{Targets: []string{loopback(l.ports[portKwok])}}}},
			{JobName: JobDstload, FileSDConfigs: fileSD(JobDstload)},
		},
	}
	data, err := yaml.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("encode prometheus config: %w", err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("write prometheus config: %w", err)
	}
	return nil
}

// writeTargets replaces a file_sd file atomically (Prometheus may read it
// at any moment and would drop a half-written one's targets).
func writeTargets(path string, groups []TargetGroup) error {
	if groups == nil {
		groups = []TargetGroup{}
	}
	data, err := json.Marshal(groups)
	if err != nil {
		return fmt.Errorf("encode scrape targets: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("scrape targets: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("write scrape targets: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write scrape targets: %w", err)
	}
	return nil
}

// WriteRunTargets sets what the environment's Prometheus scrapes of a
// `dstload run` (job dstload): addrs maps a component label (clients,
// observer) to its host:port; nil empties the file when the run's
// processes stop. Without a supervised Prometheus it does nothing.
func WriteRunTargets(envDir string, st *provision.State, addrs map[string]string) error {
	if st.Process("", Prometheus) == nil {
		return nil
	}
	var groups []TargetGroup
	for component, addr := range addrs {
		groups = append(groups, TargetGroup{Targets: []string{addr}, Labels: map[string]string{"component": component}})
	}
	return writeTargets(layout{paths: envPaths(envDir)}.targetsFile(JobDstload), groups)
}

// PrometheusURL is the supervised Prometheus' base URL, "" without one.
func PrometheusURL(st *provision.State) string {
	if p := st.Process("", Prometheus); p != nil {
		return "http://" + p.Addr
	}
	return ""
}

// resolvePrometheus finds the Prometheus binary: --prometheus-bin, else
// PATH. The error is the one line a user needs.
func resolvePrometheus(flag string) (string, error) {
	if flag != "" {
		if !isExecutable(flag) {
			return "", fmt.Errorf("--monitoring: --prometheus-bin %s is not an executable file; %s", flag, PrometheusHint)
		}
		return flag, nil
	}
	p, err := exec.LookPath("prometheus")
	if err != nil {
		return "", fmt.Errorf("--monitoring: no prometheus binary on PATH; %s", PrometheusHint)
	}
	return p, nil
}

// portPrometheus is Prometheus' port in data.Ports: picked at its first
// start and kept while it is free, so that a Prometheus restarted by a
// later `up` (after it died, or monitoring was off) keeps its URL and a
// Grafana data source pointing at it still works.
const portPrometheus = "prometheus"

func prometheusPort(st *provision.State, d *data, save provision.SaveFunc) (int, error) {
	if port := d.Ports[portPrometheus]; port != 0 && checkPortFree(port) == nil {
		return port, nil
	}
	ports, err := freePorts(1)
	if err != nil {
		return 0, err
	}
	if d.Ports == nil {
		d.Ports = map[string]int{}
	}
	d.Ports[portPrometheus] = ports[0]
	if err := storeData(st, d); err != nil {
		return 0, err
	}
	return ports[0], save(st)
}

// wantPrometheus is the binary this `up` runs Prometheus with, "" for
// none: --monitoring (with the binary Validate found) or its absence when
// the flag was given, else what the environment records (a plain
// Lifecycle.Up, as `dstload ab` makes, keeps it; one that died is
// restarted with the same binary).
func (p *Provider) wantPrometheus(st *provision.State) string {
	if p.opts.MonitoringSet {
		if !p.opts.Monitoring {
			return ""
		}
		return p.prometheusBin
	}
	return recordedBin(st.Process("", Prometheus))
}

// recordedBin is the binary a recorded process runs, "" for none.
func recordedBin(rec *provision.Process) string {
	if rec == nil || len(rec.Cmdline) == 0 {
		return ""
	}
	return rec.Cmdline[0]
}

// monitoringChange: Prometheus is to be started, stopped or replaced.
func (p *Provider) monitoringChange(st *provision.State) bool {
	return p.wantPrometheus(st) != recordedBin(st.Process("", Prometheus))
}

// ensurePrometheus brings Prometheus to what this `up` asks for: stopped
// when monitoring is off, else running (a healthy one is kept, same PID)
// with the destination controller's current admin address as its target.
func (p *Provider) ensurePrometheus(ctx context.Context, env provision.Env, st *provision.State, save provision.SaveFunc) error {
	want := p.wantPrometheus(st)
	rec := st.Process("", Prometheus)
	if rec != nil && want != recordedBin(rec) {
		env.Progressf("stopping %s (pid %d)", Prometheus, rec.PID)
		if err := stopProcess(ctx, *rec, 10*time.Second); err != nil {
			return err
		}
		st.RemoveProcess("", Prometheus)
		if err := save(st); err != nil {
			return err
		}
		rec = nil
	}
	if want == "" {
		return nil
	}
	d, err := loadData(st)
	if err != nil {
		return err
	}
	l := layout{paths: envPaths(env.Dir), ports: d.Ports, bins: d.Bins}
	var dst []TargetGroup
	if c := st.Cluster(""); c != nil && c.DestinationAdminAddr != "" {
		dst = []TargetGroup{{Targets: []string{c.DestinationAdminAddr}}}
	}
	if err := writeTargets(l.targetsFile(JobDestination), dst); err != nil {
		return err
	}
	hc := &http.Client{Timeout: 2 * time.Second}
	if rec != nil && alive(*rec) {
		env.Log.Debug("keeping running process", "name", Prometheus, "pid", rec.PID)
		return waitHealthy(ctx, hc, *rec, p.opts.ReadyTimeout)
	}
	if _, err := os.Stat(l.targetsFile(JobDstload)); errors.Is(err, os.ErrNotExist) {
		if err := writeTargets(l.targetsFile(JobDstload), nil); err != nil {
			return err
		}
	}
	port, err := prometheusPort(st, d, save)
	if err != nil {
		return err
	}
	c := prometheus(l, prometheusRun{bin: want, port: port})
	for _, f := range c.configs {
		if err := f.write(l.config(f.name)); err != nil {
			return err
		}
	}
	proc, err := startComponent(ctx, env, st, save, l, c, "", "starting prometheus "+want)
	if err != nil {
		return err
	}
	return waitHealthy(ctx, hc, proc, p.opts.ReadyTimeout)
}
