package link_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/dstload/dstload/provision"
	"github.com/dstload/dstload/provision/link"
	"github.com/dstload/dstload/provision/local"
	"github.com/dstload/dstload/provision/local/localtest"
	"github.com/dstload/dstload/workload/report"
)

// TestLinkedPair is multicluster as a user drives it, against Linkerd's
// real destination controller and service-mirror (DSTLOAD_DESTINATION_BIN),
// in one two-cluster environment shared by every check: `up --clusters 2`
// links the target into the source (the source's controller holds one
// remote cluster), remote-discovery at small scale converges on every event
// with update latencies measured across the clusters, a federated
// Service's stream holds the union of both clusters' members, the
// federated scenario converges on every event of both clusters, deleting the
// credentials Secret mid-run stops the run with the controller's error in
// the report, `up` repairs the link, and `down` leaves no process of either
// cluster.
func TestLinkedPair(t *testing.T) {
	localtest.RequireBinaries(t)
	ctl := localtest.RealDestination(t)
	if os.Getenv("CI") == "true" && os.Getenv("DSTLOAD_CHART_MIRROR") == "" {
		t.Fatal("DSTLOAD_CHART_MIRROR is not set: point it at the chart mirror")
	}
	bin := buildDstload(t)
	dir := t.TempDir()
	out := t.TempDir()
	name := "mc"
	cli := func(t *testing.T, args ...string) (int, string) {
		t.Helper()
		cmd := exec.Command(bin, append(args, "--state-dir", dir, "--name", name)...)
		b, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("dstload %s: %v", args[0], err)
		}
		return code, string(b)
	}
	var recorded []provision.Process
	t.Cleanup(func() {
		cli(t, "down")
		for _, p := range recorded {
			if local.Alive(p) {
				t.Errorf("%s/%s (pid %d) survived down", p.Cluster, p.Name, p.PID)
			}
		}
	})

	if code, o := cli(t, "up", "--clusters", "3"); code != 2 || strings.Count(strings.TrimSpace(o), "\n") != 0 {
		t.Errorf("up --clusters 3: exit %d, want 2 and one line:\n%s", code, o)
	}
	start := time.Now()
	if code, o := cli(t, "up", "--provider", "local", "--clusters", "2", "--nodes", "1", "--destination-bin", ctl); code != 0 {
		t.Fatalf("up --clusters 2: exit %d\n%s", code, o)
	}
	t.Logf("up --clusters 2 took %s", time.Since(start).Round(100*time.Millisecond))
	st, err := provision.LoadState(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	recorded = append(recorded, st.Processes...)
	src, tgt := link.Pair(st)
	if src == nil || tgt.Name != local.TargetName(name) {
		t.Fatalf("clusters %+v, want a source and %s", st.Clusters, local.TargetName(name))
	}
	for _, want := range []struct{ cluster, name string }{
		{tgt.Name, local.Etcd}, {tgt.Name, local.APIServer}, {tgt.Name, local.Destination},
		{"", local.ServiceMirror}, {"", local.LocalServiceMirror},
	} {
		if st.Process(want.cluster, want.name) == nil {
			t.Errorf("no process %s recorded for cluster %q", want.name, want.cluster)
		}
	}
	if n, err := link.ClusterStoreSize(context.Background(), src.DestinationAdminAddr); err != nil || n != 1 {
		t.Fatalf("source controller's cluster_store_size = %d, %v; want 1", n, err)
	}
	checkLinkStatus(t, cli, true)
	if code, o := cli(t, "up"); code != 0 || !strings.Contains(o, "already up") {
		t.Errorf("second up: exit %d, want already up:\n%s", code, o)
	}

	var runScenario func(t *testing.T, scenario, sub, hold string, onChurn func()) (int, *report.Report, string)
	run := func(t *testing.T, sub string, onChurn func()) (int, *report.Report, string) {
		t.Helper()
		return runScenario(t, "remote-discovery", sub, "8s", onChurn)
	}
	// runScenario runs a scenario at small scale; hold is --hold.
	runScenario = func(t *testing.T, scenario, sub, hold string, onChurn func()) (int, *report.Report, string) {
		t.Helper()
		rdir := filepath.Join(out, sub)
		cmd := exec.Command(bin, "run", scenario, "--scale", "0.1", "--cycles", "1", "--hold", hold, "--settle", "30s",
			"--out", rdir, "--metrics-interval", "500ms", "--ready-timeout", "3m", "--state-dir", dir, "--name", name)
		pr, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = cmd.Stdout
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var lines []string
		var once sync.Once
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines = append(lines, sc.Text())
			if onChurn != nil && strings.HasSuffix(sc.Text(), "] churn") {
				once.Do(onChurn)
			}
		}
		code := 0
		if err := cmd.Wait(); err != nil {
			ee, ok := err.(*exec.ExitError)
			if !ok {
				t.Fatal(err)
			}
			code = ee.ExitCode()
		}
		r, err := report.ReadFile(filepath.Join(rdir, report.JSONFile))
		if err != nil {
			t.Fatalf("exit %d, no report: %v\n%s", code, err, strings.Join(lines, "\n"))
		}
		return code, r, strings.Join(lines, "\n")
	}

	t.Run("remote-discovery", func(t *testing.T) {
		code, r, o := run(t, "remote-discovery", nil)
		if code != 0 {
			t.Fatalf("exit %d, verdict %s\n%s", code, r.Verdict, o)
		}
		if c := r.Environment.Clusters; c == nil || c.Endpoints != tgt.Name || c.Clients != src.Name || c.Mode != "remote-discovery" {
			t.Errorf("report clusters = %+v, want endpoints %s, clients %s", c, tgt.Name, src.Name)
		}
		if len(r.Events) == 0 || r.UpdateLatency.Count == 0 {
			t.Fatalf("%d events, %d update latencies: nothing measured across the clusters", len(r.Events), r.UpdateLatency.Count)
		}
		for _, e := range r.Events {
			if e.Outcome != "complete" || e.Missed != 0 {
				t.Errorf("event %s #%d: outcome %s, %d of %d streams missed", e.Service, e.Seq, e.Outcome, e.Missed, e.Streams)
			}
		}
	})

	t.Run("federated", func(t *testing.T) { checkFederated(t, src, tgt) })

	// The federated scenario: members and churn in both clusters, the
	// clients holding the union. A hold of 16s keeps the clusters' events
	// of a service (half a hold apart) clear of the 5s jitter.
	t.Run("federated run", func(t *testing.T) {
		code, r, o := runScenario(t, "federated", "federated", "16s", nil)
		if code != 0 {
			t.Fatalf("exit %d, verdict %s\n%s", code, r.Verdict, o)
		}
		checkFederatedReport(t, r, src.Name, tgt.Name)
	})

	t.Run("secret deleted", func(t *testing.T) {
		cs := sourceClient(t, src)
		code, r, o := run(t, "secret-deleted", func() {
			if err := link.DeleteSecret(context.Background(), cs, link.ControlPlaneNamespace, link.SecretName(tgt.Name)); err != nil {
				t.Error(err)
			}
		})
		if code != 5 || r.Fault == nil {
			t.Fatalf("exit %d, fault %+v; want 5 and the link's fault\n%s", code, r.Fault, o)
		}
		if r.Fault.Component != "link/"+tgt.Name || !strings.Contains(r.Fault.Detail, "Remote cluster not found: "+tgt.Name) {
			t.Errorf("fault %s: %s; want the link and the controller's NotFound", r.Fault.Component, r.Fault.Detail)
		}
		checkLinkStatus(t, cli, false)
		if code, o := cli(t, "up"); code != 0 {
			t.Fatalf("up after the Secret was deleted: exit %d\n%s", code, o)
		}
		checkLinkStatus(t, cli, true)
	})

	st, err = provision.LoadState(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	recorded = append(recorded, st.Processes...)
	if code, o := cli(t, "down"); code != 0 {
		t.Fatalf("down: exit %d\n%s", code, o)
	}
	for _, p := range recorded {
		if local.Alive(p) {
			t.Errorf("%s/%s (pid %d) survived down", p.Cluster, p.Name, p.PID)
		}
	}
}

// checkFederatedReport checks a federated run's report: both clusters
// hold endpoints, every event names its cluster and converged on every
// stream (each held the union), and each cluster's update latencies are
// there.
func checkFederatedReport(t *testing.T, r *report.Report, src, tgt string) {
	t.Helper()
	if c := r.Environment.Clusters; c == nil || c.Mode != "federated" || c.Endpoints != src+","+tgt || c.Clients != src {
		t.Errorf("report clusters = %+v, want federated, endpoints %s,%s, clients %s", c, src, tgt, src)
	}
	perCluster := map[string]int{}
	seqs := map[uint64]bool{}
	for _, e := range r.Events {
		perCluster[e.Cluster]++
		if seqs[e.Seq] {
			t.Errorf("event %s #%d numbered twice", e.Service, e.Seq)
		}
		seqs[e.Seq] = true
		if e.Outcome != "complete" || e.Missed != 0 || e.Expect <= e.Target {
			t.Errorf("event %s #%d in %q: outcome %s, %d of %d streams missed, target %d, union %d", e.Service, e.Seq, e.Cluster, e.Outcome, e.Missed, e.Streams, e.Target, e.Expect)
		}
	}
	// 1 service (scale 0.1) x 1 cycle: up and down in each cluster.
	if perCluster[src] != 2 || perCluster[tgt] != 2 || len(r.Events) != 4 {
		t.Errorf("events per cluster %v, want 2 in %s and 2 in %s", perCluster, src, tgt)
	}
	if len(r.ByCluster) != 2 {
		t.Fatalf("byCluster %+v, want %s and %s", r.ByCluster, src, tgt)
	}
	for _, c := range r.ByCluster {
		if c.UpdateLatency.Count == 0 || c.Complete != c.Events {
			t.Errorf("cluster %s: %d update latencies, %d of %d events complete", c.Cluster, c.UpdateLatency.Count, c.Complete, c.Events)
		}
	}
}

// checkLinkStatus reads `dstload status -o json` and checks the link's line.
func checkLinkStatus(t *testing.T, cli func(*testing.T, ...string) (int, string), healthy bool) {
	t.Helper()
	_, o := cli(t, "status", "-o", "json")
	var r provision.StatusReport
	// The JSON first; an unhealthy environment's line follows it.
	if err := json.NewDecoder(strings.NewReader(o[max(0, strings.Index(o, "{")):])).Decode(&r); err != nil {
		t.Fatalf("status -o json: %v\n%s", err, o)
	}
	for _, c := range r.Components {
		if strings.HasPrefix(c.Name, "link/") {
			if (c.Health == provision.Healthy) != healthy {
				t.Errorf("link status %s (%s), want healthy=%v", c.Health, c.Detail, healthy)
			}
			if healthy && !strings.Contains(c.Detail, "cluster_store_size 1") {
				t.Errorf("link detail %q does not show the controller's one remote cluster", c.Detail)
			}
			return
		}
	}
	t.Errorf("status shows no link:\n%s", o)
}

func sourceClient(t *testing.T, c *provision.Cluster) kubernetes.Interface {
	t.Helper()
	cfg, err := provision.RESTConfig(c.Kubeconfig, c.Context)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// buildDstload compiles dstload: `run` starts its observer as a process of
// its own executable.
func buildDstload(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "dstload")
	cmd := exec.Command("go", "build", "-o", out, "./cmd/dstload")
	cmd.Dir = "../.."
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/dstload: %v\n%s", err, b)
	}
	return out
}
