package main

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/dstload/dstload/internal/dsttest"
	"github.com/dstload/dstload/internal/testutil"
	"github.com/dstload/dstload/provision/local/localtest"
	"github.com/dstload/dstload/workload/record"
	"github.com/dstload/dstload/workload/report"
)

// testDestination is the stand-in for Linkerd's destination controller: the
// test Destination server on a loopback port, fed from the cluster's
// EndpointSlices, plus a /metrics endpoint with the controller's process
// metrics and endpoints_subscribers.
type testDestination struct {
	srv        *dsttest.Server
	addr       string
	metricsURL string
}

func startTestDestination(t *testing.T, c *localtest.Cluster, namespace string) *testDestination {
	t.Helper()
	srv, addr := dsttest.Start(t, testutil.Discard(), c.Clientset, namespace, dsttest.Options{})

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collectors.NewGoCollector(),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "endpoints_subscribers"}, func() float64 {
			open, _, _, _ := srv.Counters()
			return float64(open)
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "endpoint_updates_queue_overflow"}, func() float64 {
			_, _, _, overflow := srv.Counters()
			return float64(overflow)
		}))
	mln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{})}
	go hs.Serve(mln)
	t.Cleanup(func() { hs.Close() })
	return &testDestination{srv: srv, addr: addr, metricsURL: "http://" + mln.Addr().String() + "/metrics"}
}

// TestRunEndToEnd runs catalogue scenarios, shrunk, on a real local cluster
// against the test Destination server: healthy runs pass, a server that
// delays every update fails with exit 3, and compare flags the regression.
func TestRunEndToEnd(t *testing.T) {
	c := localtest.Start(t, localtest.Options{Nodes: 1})
	const ns = "dstload-run"
	d := startTestDestination(t, c, ns)
	out := t.TempDir()
	// DSTLOAD_RUN_TEST_OUT keeps the reports for a look afterwards.
	if dir := os.Getenv("DSTLOAD_RUN_TEST_OUT"); dir != "" {
		out = dir
	}
	// localtest keeps its environment in <dir>/env.
	common := []string{"--state-dir", filepath.Dir(c.Dir), "--name", filepath.Base(c.Dir),
		"--destination-addr", d.addr, "--destination-metrics", d.metricsURL,
		"--metrics-interval", "500ms", "--ready-timeout", "2m", "--plot-format", "png"}
	runScenario := func(t *testing.T, name, dir string, extra ...string) (int, string, string, *report.Report) {
		t.Helper()
		start := time.Now()
		args := append([]string{"run", name, "--scale", "0.05", "--out", dir}, append(common, extra...)...)
		code, stdout, stderr := runCLI(t, args...)
		t.Logf("dstload run %s: exit %d in %s", name, code, time.Since(start).Round(time.Millisecond))
		r, err := report.ReadFile(filepath.Join(dir, report.JSONFile))
		if err != nil {
			t.Fatalf("exit %d, no report: %v\nstdout:\n%s\nstderr:\n%s", code, err, stdout, stderr)
		}
		checkConsistent(t, r)
		return code, stdout, stderr, r
	}

	t.Run("baseline", func(t *testing.T) {
		code, stdout, stderr, r := runScenario(t, "baseline", filepath.Join(out, "baseline"), "--duration", "15s")
		if code != 0 {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		if r.Totals.Streams != 50 || r.Totals.ScaleEvents != 0 || r.Destination.SubscribersLoadMin != 50 {
			t.Errorf("baseline totals %+v, subscribers %v", r.Totals, r.Destination.SubscribersLoadMin)
		}
		for _, want := range []string{"baseline: PASS", "PASS  subscriptions >= 100%"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("summary lacks %q:\n%s", want, stdout)
			}
		}
		for _, want := range []string{"] deploy:", "] connect: streams 50/50 up", "] hold:", "] cleanup"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("progress lacks %q:\n%s", want, stderr)
			}
		}
	})

	healthy := filepath.Join(out, "healthy")
	oscillate := []string{"--cycles", "1", "--hold", "8s", "--settle", "30s"}
	t.Run("small-oscillation healthy", func(t *testing.T) {
		code, stdout, stderr, r := runScenario(t, "small-oscillation", healthy, append(oscillate, "--records")...)
		if code != 0 {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		if r.Totals.ScaleEvents != 2 || len(r.Events) != 2 || r.UpdateLatency.Count == 0 || r.Totals.MissedStreams != 0 {
			t.Errorf("events %d, update samples %d, missed %d", len(r.Events), r.UpdateLatency.Count, r.Totals.MissedStreams)
		}
		if len(r.Endpoints) == 0 || len(r.Destination.Samples) == 0 {
			t.Errorf("no endpoint series or destination samples")
		}
		// The saved records give the same analysis again.
		set, err := record.ReadFile(filepath.Join(healthy, record.FileName))
		if err != nil {
			t.Fatal(err)
		}
		if a := record.Analyze(set); len(a.UpdateLatencies) != r.UpdateLatency.Count || len(a.Events) != len(r.Events) {
			t.Errorf("%s: %d latencies, %d events; report %d, %d", record.FileName, len(a.UpdateLatencies), len(a.Events), r.UpdateLatency.Count, len(r.Events))
		}
		if testing.Verbose() {
			t.Logf("stdout:\n%s\nstderr:\n%s", stdout, stderr)
		}
	})

	delayed := filepath.Join(out, "delayed")
	t.Run("small-oscillation delayed", func(t *testing.T) {
		d.srv.SetDelay(time.Second)
		defer d.srv.SetDelay(0)
		junit, summary := filepath.Join(out, "delayed.junit.xml"), filepath.Join(out, "step-summary.md")
		code, stdout, stderr, r := runScenario(t, "small-oscillation", delayed, append(oscillate, "--junit", junit, "--ci-summary", summary)...)
		if code != exitCriteria {
			t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitCriteria, stdout, stderr)
		}
		checkJUnit(t, junit, r)
		if b, err := os.ReadFile(summary); err != nil || !strings.Contains(string(b), "small-oscillation: FAIL") || !strings.Contains(string(b), "| `p95 < 500ms` |") {
			t.Errorf("--ci-summary: %v\n%s", err, b)
		}
		if r.UpdateLatency.P50 < 0.9 {
			t.Errorf("update latency p50 %v with a 1s delay", r.UpdateLatency.P50)
		}
		if !strings.Contains(stdout, "FAIL  p95 < 500ms") || !strings.Contains(stderr, "failed its criteria") {
			t.Errorf("stdout:\n%s\nstderr:\n%s", stdout, stderr)
		}
	})

	t.Run("small-oscillation stale endpoint", func(t *testing.T) {
		// The server keeps the first endpoint that leaves the slices, as
		// a controller with a stale endpoint does: the report must name it.
		withheld := d.srv.WithholdRemove(0)
		// The server is shared with the next runs.
		defer d.srv.ReleaseWithheld()
		code, stdout, stderr, r := runScenario(t, "small-oscillation", filepath.Join(out, "stale"), oscillate...)
		var w dsttest.Withheld
		select {
		case w = <-withheld:
		default:
			t.Fatalf("no Remove was withheld\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
		}
		if code != exitCriteria {
			t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitCriteria, stdout, stderr)
		}
		if len(r.EndpointDiagnoses) != 1 {
			t.Fatalf("diagnoses %+v, want the one withheld (%s)", r.EndpointDiagnoses, w.Addr)
		}
		g := r.EndpointDiagnoses[0]
		// Stale from when the observer saw it go to the end of the run,
		// on every stream of the service.
		if g.Kind != record.KindStale || g.Addr != w.Addr.String() || g.Service != w.Service || g.Streams != g.ServiceStreams ||
			g.Recovered != 0 || g.Since.Sub(w.At).Abs() > 2*time.Second || g.WrongForSeconds < record.DiagnosisGrace.Seconds() ||
			g.WrongForSeconds > r.Run.LoadEnd.Sub(w.At).Seconds()+2 {
			t.Errorf("diagnosis %+v, withheld %+v, load end %s", g, w, r.Run.LoadEnd)
		}
		for _, want := range []string{"FAIL  stale <= 0", "measured 1 (worst ", "stale " + w.Addr.String() + " of " + w.Service + ": held by ",
			"not recovered by the end", "report.html"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("summary lacks %q:\n%s", want, stdout)
			}
		}
		// The progress lines name it while the run goes on.
		if want := "stale endpoint " + w.Addr.String() + " of " + w.Service + ": held by "; !strings.Contains(stderr, want) {
			t.Errorf("progress lacks %q:\n%s", want, stderr)
		}
		if !strings.Contains(stderr, "+0 stream errors, +0 reconnects since the last line") {
			t.Errorf("progress lacks the errors and reconnects per line:\n%s", stderr)
		}
	})

	t.Run("churn faster than the cluster", func(t *testing.T) {
		// 50 ms holds: no cluster brings 19 new pods to ready that fast
		// (this one takes 300-400 ms), so each scale-up is superseded
		// before it gets there. 300 ms holds were not enough: on a quiet
		// machine the cluster sometimes made it and the run passed.
		code, stdout, stderr, r := runScenario(t, "small-oscillation", filepath.Join(out, "cluster-limited"),
			"--scale", "0.1", "--cycles", "2", "--hold", "50ms", "--settle", "5s")
		if code != exitInconclusive {
			t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitInconclusive, stdout, stderr)
		}
		if r.Verdict != report.Inconclusive || r.Totals.EventOutcomes[record.OutcomeClusterLimited] == 0 {
			t.Errorf("verdict %s, outcomes %v", r.Verdict, r.Totals.EventOutcomes)
		}
		for _, c := range r.Criteria {
			if c.Metric == "fanout_completion_max" && (c.Verdict != report.Inconclusive || !strings.Contains(c.Reason, "cluster-limited")) {
				t.Errorf("fanout criterion %+v", c)
			}
		}
		for _, want := range []string{"INCONCLUSIVE  fanout < 10s", "cluster-limited", "events: "} {
			if !strings.Contains(stdout, want) {
				t.Errorf("summary lacks %q:\n%s", want, stdout)
			}
		}
		if !strings.Contains(stderr, "is inconclusive: ") || !strings.Contains(stderr, "host cpu ") {
			t.Errorf("stderr:\n%s", stderr)
		}
	})

	t.Run("keep and cleanup", func(t *testing.T) {
		code, stdout, stderr, r := runScenario(t, "baseline", filepath.Join(out, "kept"), "--duration", "2s", "--keep", "-o", "yaml", "--log-format", "json")
		if code != 0 || !strings.Contains(stderr, "targets kept in namespace dstload-run") {
			t.Fatalf("--keep run: exit %d\n%s\n%s", code, stdout, stderr)
		}
		// --log-format json: stderr is JSON records only, progress included.
		for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
			if !json.Valid([]byte(l)) {
				t.Errorf("--log-format json: stderr line is not JSON: %q", l)
			}
		}
		// -o yaml: the verdict, criteria and files, and nothing else on stdout.
		var res runResult
		if err := yaml.Unmarshal([]byte(stdout), &res); err != nil || res.Verdict != report.Pass || len(res.Criteria) != len(r.Criteria) ||
			res.Files.JSON != filepath.Join(out, "kept", report.JSONFile) || len(res.Files.Plots) == 0 {
			t.Errorf("-o yaml: %v %+v\n%s", err, res, stdout)
		}
		args := append([]string{"run", "baseline", "--scale", "0.05", "--out", filepath.Join(out, "again")}, common...)
		code, _, stderr = runCLI(t, args...)
		if code != exitFailure || !strings.Contains(stderr, "release dstload-run already exists") || !strings.Contains(stderr, "dstload run --cleanup --namespace dstload-run") {
			t.Fatalf("run over kept targets: exit %d: %s", code, stderr)
		}
		code, stdout, stderr = runCLI(t, "run", "--cleanup", "--state-dir", filepath.Dir(c.Dir), "--name", filepath.Base(c.Dir))
		if code != 0 || !strings.Contains(stdout, "removed the run's targets in namespace dstload-run") {
			t.Fatalf("--cleanup: exit %d\n%s\n%s", code, stdout, stderr)
		}
		if _, err := c.Clientset.CoreV1().Namespaces().Get(context.Background(), ns, metav1.GetOptions{}); err == nil {
			t.Fatalf("namespace %s still exists after --cleanup", ns)
		}
	})

	t.Run("compare", func(t *testing.T) {
		code, stdout, stderr := runCLI(t, "compare", filepath.Join(healthy, report.JSONFile), filepath.Join(delayed, report.JSONFile), "--fail-on-regression")
		if code != exitCriteria || !strings.Contains(stdout, "REGRESSION") {
			t.Fatalf("compare: exit %d\n%s\n%s", code, stdout, stderr)
		}
		for _, line := range strings.Split(stdout, "\n") {
			if strings.HasPrefix(line, "update latency p95") && !strings.Contains(line, "REGRESSION") {
				t.Errorf("p95 not flagged: %s", line)
			}
		}
	})
}

// checkConsistent checks the invariants every report must satisfy, and
// that the destination followed the EndpointSlices (true of the test
// server, which serves the slices).
func checkConsistent(t *testing.T, r *report.Report) {
	t.Helper()
	checkReport(t, r, true)
}

// checkReport checks a report's invariants. followsSlices adds those that
// hold only for a destination that learns endpoints from the slices alone:
// Linkerd's controller also drops an endpoint whose pod is gone before the
// slice says so, so its streams can converge before the cluster "did".
func checkReport(t *testing.T, r *report.Report, followsSlices bool) {
	t.Helper()
	if r.SchemaVersion != report.SchemaVersion || r.Tool.Name != "dstload" || r.Environment.Provider != "local" ||
		r.Environment.Versions.Kubernetes == "" || r.Environment.ClockSource == "" {
		t.Errorf("header: %+v %+v", r.Tool, r.Environment)
	}
	ordered := func(name string, q report.Quantiles) {
		if q.Count > 0 && !(q.P50 <= q.P95 && q.P95 <= q.P99 && q.P99 <= q.P999 && q.P999 <= q.Max) {
			t.Errorf("%s quantiles out of order: %+v", name, q)
		}
	}
	ordered("update", r.UpdateLatency)
	ordered("e2e", r.E2ELatency)
	ordered("first-update", r.FirstUpdateLatency)
	ordered("kube", r.KubeConvergence)
	ordered("fanout", r.FanoutCompletion)
	// The observer and the destination watch the API server through
	// separate informers, so either may see a change first by a few
	// milliseconds: convergence order holds within that skew.
	const skew = 0.05
	for _, e := range r.Events {
		ordered(fmt.Sprintf("event %s/%d e2e", e.Service, e.Seq), e.E2E)
		ordered(fmt.Sprintf("event %s/%d update", e.Service, e.Seq), e.UpdateLatency)
		if followsSlices && e.FanoutComplete && e.FanoutCompletionSeconds < -skew {
			t.Errorf("event %s/%d fanout completion %v < 0", e.Service, e.Seq, e.FanoutCompletionSeconds)
		}
		// Streams converge after the cluster itself: e2e >= k8s convergence.
		if followsSlices && e.KubeReached && e.E2E.Count > 0 && e.E2E.P50 < e.KubeConvergenceSeconds-skew {
			t.Errorf("event %s/%d e2e p50 %v < k8s convergence %v", e.Service, e.Seq, e.E2E.P50, e.KubeConvergenceSeconds)
		}
		if e.Converged+e.Missed != e.Streams {
			t.Errorf("event %s/%d: converged %d + missed %d != streams %d", e.Service, e.Seq, e.Converged, e.Missed, e.Streams)
		}
	}
	if len(r.Criteria) == 0 {
		t.Error("no criteria judged")
	}
	for _, c := range r.Criteria {
		if c.Verdict != report.Pass && c.Verdict != report.Fail && c.Verdict != report.Inconclusive {
			t.Errorf("criterion %s verdict %q", c.Metric, c.Verdict)
		}
	}
	if r.Run.LoadStart.Before(r.Run.Started) || r.Run.LoadEnd.Before(r.Run.LoadStart) || r.Run.Ended.Before(r.Run.LoadEnd) {
		t.Errorf("run times out of order: %+v", r.Run)
	}
}

// checkJUnit parses a --junit file as a CI reporter would and checks it
// says what the report says: one test case per criterion, failures where
// criteria failed.
func checkJUnit(t *testing.T, path string, r *report.Report) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("--junit: %v", err)
	}
	var doc struct {
		Suites []struct {
			Tests    int `xml:"tests,attr"`
			Failures int `xml:"failures,attr"`
			Cases    []struct {
				Name    string    `xml:"name,attr"`
				Failure *struct{} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil || len(doc.Suites) != 1 {
		t.Fatalf("--junit does not parse as one test suite: %v\n%s", err, b)
	}
	s := doc.Suites[0]
	failed := 0
	for i, c := range r.Criteria {
		if c.Verdict == report.Fail {
			failed++
		}
		if i >= len(s.Cases) || s.Cases[i].Name != c.Threshold || (s.Cases[i].Failure != nil) != (c.Verdict == report.Fail) {
			t.Errorf("test case %d does not match criterion %+v:\n%s", i, c, b)
		}
	}
	if s.Tests != len(r.Criteria) || s.Failures != failed || failed == 0 {
		t.Errorf("suite: %d tests, %d failures; report: %d criteria, %d failed\n%s", s.Tests, s.Failures, len(r.Criteria), failed, b)
	}
}
