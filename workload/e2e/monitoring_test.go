package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/dstload/dstload/internal/testutil"
	"github.com/dstload/dstload/provision"
	"github.com/dstload/dstload/provision/local"
	"github.com/dstload/dstload/provision/local/localtest"
	"github.com/dstload/dstload/workload/report"
)

// TestLocalMonitoring is `dstload up --provider local --monitoring` as a
// user runs it, with Debian's Prometheus and Linkerd's real destination
// controller, in one environment: every scrape target is healthy (and
// `status` says so); during a small run PromQL finds the controller's
// subscribers equal to the run's streams and dstload's latency histogram
// counting, and the report links the run's window; a second `up
// --monitoring` keeps the same Prometheus, `up` without it stops it, one
// with it again brings it back on its port, and `down` leaves no
// Prometheus process. It runs the dstload binary (not
// the CLI in-process, as cmd/dstload's tests do) so that it runs in
// parallel with that package.
func TestLocalMonitoring(t *testing.T) {
	localtest.RequireBinaries(t)
	dstBin := localtest.RealDestination(t)
	localtest.RequirePrometheus(t)
	dir := t.TempDir()
	dstload := buildBinary(t, dir, "./cmd/dstload")
	stateDir := filepath.Join(dir, "state")
	envDir := filepath.Join(stateDir, "mon")
	envFlags := []string{"--state-dir", stateDir, "--name", "mon"}
	cli := func(args ...string) (int, string, string) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(dstload, append(args, envFlags...)...)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		start := time.Now()
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("dstload %s: %v", args[0], err)
		}
		t.Logf("dstload %s: exit %d in %s", strings.Join(args, " "), code, time.Since(start).Round(time.Millisecond))
		return code, stdout.String(), stderr.String()
	}
	t.Cleanup(func() { cli("down") })
	up := []string{"up", "--provider", "local", "--nodes", "1", "--destination-bin", dstBin}
	mustUp := func(args ...string) string {
		t.Helper()
		code, stdout, stderr := cli(append(append([]string(nil), up...), args...)...)
		if code != 0 {
			t.Fatalf("up %v: exit %d\n%s\n%s", args, code, stdout, stderr)
		}
		return stdout
	}
	prometheus := func() *provision.Process {
		t.Helper()
		st, err := provision.LoadState(envDir)
		if err != nil {
			t.Fatal(err)
		}
		return st.Process("", local.Prometheus)
	}

	out := mustUp("--monitoring")
	proc := prometheus()
	if proc == nil || !local.Alive(*proc) {
		t.Fatalf("no running Prometheus recorded: %+v", proc)
	}
	url := "http://" + proc.Addr
	if !strings.Contains(out, "prometheus: "+url) {
		t.Errorf("up does not print the Prometheus URL:\n%s", out)
	}
	c, err := promapi.NewClient(promapi.Config{Address: url})
	if err != nil {
		t.Fatal(err)
	}
	api := promv1.NewAPI(c)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// health of the jobs' targets, from /api/v1/targets.
	health := func() map[string]string {
		targets, err := local.ScrapeTargets(ctx, url)
		if err != nil {
			t.Logf("targets: %v", err)
			return nil
		}
		h := map[string]string{}
		for _, tg := range targets {
			if h[tg.Job] == "" || tg.Health != "up" {
				h[tg.Job] = tg.Health
			}
		}
		return h
	}
	baseJobs := []string{local.JobDestination, local.JobAPIServer, local.JobKwok}
	allUp := func(h map[string]string, jobs ...string) bool {
		for _, j := range jobs {
			if h[j] != "up" {
				return false
			}
		}
		return true
	}
	testutil.WaitFor(t, 30*time.Second, "every scrape target up", func() bool { return allUp(health(), baseJobs...) })

	code, stdout, stderr := cli("status", "-o", "json")
	var sr provision.StatusReport
	if err := json.Unmarshal([]byte(stdout), &sr); code != 0 || err != nil {
		t.Fatalf("status -o json: exit %d, %v\n%s\n%s", code, err, stdout, stderr)
	}
	if sr.Monitoring == nil || sr.Monitoring.URL != url || len(sr.Monitoring.Targets) != len(baseJobs) {
		t.Fatalf("status monitoring %+v", sr.Monitoring)
	}
	for _, tg := range sr.Monitoring.Targets {
		if tg.Health != "up" {
			t.Errorf("status: target %+v", tg)
		}
	}
	if _, text, _ := cli("status"); !strings.Contains(text, "prometheus "+url) || !strings.Contains(text, local.JobAPIServer) {
		t.Errorf("status text lacks Prometheus and its targets:\n%s", text)
	}

	// A small run with churn (dstload's latency histograms count events).
	runOut := filepath.Join(dir, "run")
	var runStdout, runStderr bytes.Buffer
	run := exec.Command(dstload, append([]string{"run", "small-oscillation", "--scale", "0.05", "--cycles", "1", "--hold", "5s",
		"--settle", "15s", "--ready-timeout", "2m", "--out", runOut}, envFlags...)...)
	run.Stdout, run.Stderr = &runStdout, &runStderr
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- run.Wait() }()
	query := func(q string) float64 {
		v, _, err := api.Query(ctx, q, time.Now())
		if err != nil {
			t.Fatalf("query %s: %v", q, err)
		}
		if vec, ok := v.(model.Vector); ok && len(vec) == 1 {
			return float64(vec[0].Value)
		}
		return -1
	}
	var subscribers, e2eCount float64 = -1, -1
	runTargetsUp := false
	var runErr error
poll:
	for {
		select {
		case runErr = <-done:
			break poll
		case <-time.After(time.Second):
		}
		subscribers = max(subscribers, query("sum(endpoints_subscribers)"))
		e2eCount = max(e2eCount, query("sum(dstload_client_e2e_latency_seconds_count)"))
		runTargetsUp = runTargetsUp || allUp(health(), append(baseJobs, local.JobDstload)...)
	}
	if runErr != nil {
		t.Fatalf("run: %v\n%s\n%s", runErr, runStdout.String(), runStderr.String())
	}
	r, err := report.ReadFile(filepath.Join(runOut, report.JSONFile))
	if err != nil {
		t.Fatal(err)
	}
	if streams := float64(r.Sampling.Streams); streams == 0 || subscribers != streams {
		t.Errorf("sum(endpoints_subscribers) reached %v during the run, want the run's %v streams", subscribers, streams)
	}
	if e2eCount <= 0 {
		t.Errorf("sum(dstload_client_e2e_latency_seconds_count) = %v during the run, want > 0", e2eCount)
	}
	if !runTargetsUp {
		t.Error("the run's scrape targets (job dstload) were never all up with the others")
	}
	if m := r.Monitoring; m == nil || m.PrometheusURL != url || !strings.HasPrefix(m.GraphURL, url+"/") ||
		m.Start.Before(r.Run.Started.Add(-time.Second)) || !m.End.After(m.Start) {
		t.Errorf("report monitoring %+v (run started %s)", r.Monitoring, r.Run.Started)
	}
	// The run's processes are gone: so are their targets.
	testutil.WaitFor(t, 20*time.Second, "the run's targets withdrawn", func() bool {
		h := health()
		_, has := h[local.JobDstload]
		return h != nil && !has
	})

	// up is idempotent with monitoring on, and turning it off stops it.
	if out := mustUp("--monitoring"); !strings.Contains(out, "already up") {
		t.Errorf("second up --monitoring changed something:\n%s", out)
	}
	if again := prometheus(); again == nil || again.PID != proc.PID || !local.Alive(*again) {
		t.Fatalf("second up --monitoring: Prometheus %+v, want pid %d kept", again, proc.PID)
	}
	mustUp()
	if p := prometheus(); p != nil || local.Alive(*proc) {
		t.Fatalf("up without --monitoring: Prometheus %+v still recorded or pid %d alive", p, proc.PID)
	}
	if _, stdout, _ := cli("status", "-o", "json"); strings.Contains(stdout, `"monitoring"`) {
		t.Errorf("status shows monitoring after it was turned off:\n%s", stdout)
	}

	// down stops a running Prometheus with the rest.
	mustUp("--monitoring")
	last := prometheus()
	if last == nil || !local.Alive(*last) {
		t.Fatalf("up --monitoring after off: %+v", last)
	}
	if last.Addr != proc.Addr {
		t.Errorf("Prometheus came back on %s, not on its port %s (a Grafana data source would break)", last.Addr, proc.Addr)
	}
	if code, stdout, stderr := cli("down"); code != 0 {
		t.Fatalf("down: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if local.Alive(*last) {
		t.Errorf("Prometheus (pid %d) survived down", last.PID)
	}
}
