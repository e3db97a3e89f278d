package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dstload/dstload/provision"
	"github.com/dstload/dstload/provision/local"
	"github.com/dstload/dstload/provision/local/localtest"
	"github.com/dstload/dstload/workload/dstmetrics"
	"github.com/dstload/dstload/workload/report"
)

// TestRealDestination is `dstload up` and `dstload run` as a user runs
// them, against Linkerd's real destination controller (DSTLOAD_DESTINATION_BIN)
// at CI scale: baseline and small-oscillation pass and report a sound
// instrument; a controller killed mid-run makes the run fail with the
// restart and the stream errors counted, and `up` brings the same
// controller back; --destination-arg reaches the controller and the
// report; `down` leaves no process.
//
// The churn is kept small on purpose (one service, 10<->0.5x20 endpoints):
// at full size the real controller keeps some removed endpoints (KWOK
// deletes pods at once, linkerd2 issue #10003), and these tests check what
// dstload measures, not that Linkerd is flawless.
func TestRealDestination(t *testing.T) {
	localtest.RequireBinaries(t)
	bin := localtest.RealDestination(t)
	dir := t.TempDir()
	out := t.TempDir()
	if d := os.Getenv("DSTLOAD_RUN_TEST_OUT"); d != "" {
		out = d
	}
	env := []string{"--state-dir", dir, "--name", "real"}
	cli := func(t *testing.T, a ...string) (int, string, string) {
		t.Helper()
		start := time.Now()
		code, stdout, stderr := runCLI(t, append(append([]string(nil), a...), env...)...)
		t.Logf("dstload %s: exit %d in %s", a[0], code, time.Since(start).Round(time.Millisecond))
		return code, stdout, stderr
	}
	t.Cleanup(func() { runCLI(t, append([]string{"down"}, env...)...) })
	up := []string{"up", "--provider", "local", "--nodes", "1", "--destination-bin", bin}
	if code, stdout, stderr := cli(t, up...); code != 0 {
		t.Fatalf("up: exit %d\n%s\n%s", code, stdout, stderr)
	}
	state := func(t *testing.T) *provision.State {
		t.Helper()
		st, err := provision.LoadState(filepath.Join(dir, "real"))
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	destination := func(t *testing.T) provision.Process {
		t.Helper()
		p := state(t).Process("", local.Destination)
		if p == nil {
			t.Fatal("no destination controller recorded")
		}
		return *p
	}
	run := func(t *testing.T, name string, a ...string) (int, string, string, *report.Report) {
		t.Helper()
		rdir := filepath.Join(out, name)
		args := append([]string{"run", "--scale", "0.05", "--out", rdir, "--metrics-interval", "500ms", "--ready-timeout", "2m"}, a...)
		code, stdout, stderr := cli(t, args...)
		r, err := report.ReadFile(filepath.Join(rdir, report.JSONFile))
		if err != nil {
			t.Fatalf("exit %d, no report: %v\nstdout:\n%s\nstderr:\n%s", code, err, stdout, stderr)
		}
		checkReport(t, r, false)
		return code, stdout, stderr, r
	}
	oscillate := []string{"small-oscillation", "--cycles", "1", "--hold", "10s", "--settle", "30s"}

	t.Run("baseline", func(t *testing.T) {
		code, stdout, stderr, r := run(t, "baseline", "baseline", "--duration", "15s")
		if code != 0 {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		if r.Destination.SubscribersLoadMin != 50 || r.Destination.MemoryMaxBytes == 0 || r.Destination.CPUSeconds <= 0 {
			t.Errorf("destination figures %+v", r.Destination)
		}
		if !strings.Contains(stdout, "instrument: ") {
			t.Errorf("summary lacks the instrument line:\n%s", stdout)
		}
	})

	t.Run("small-oscillation", func(t *testing.T) {
		code, stdout, stderr, r := run(t, "oscillation", oscillate...)
		if code != 0 {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		in := r.Instrument
		if !in.Reliable || in.UpdateSamples != r.UpdateLatency.Count || in.UpdateSamples == 0 {
			t.Errorf("instrument %+v", in)
		}
		procs := map[string]bool{}
		for _, p := range in.Processes {
			procs[p.Process] = p.CPUSeconds > 0 && p.Ticks > 0
		}
		if !procs["observer"] || !procs["clients"] || in.CPURatio <= 0 {
			t.Errorf("instrument processes %+v, cpu ratio %v", in.Processes, in.CPURatio)
		}
		// On the local provider the observer follows etcd, and the canary
		// also times the API server's own delivery.
		if in.ObserverSource != "etcd" || in.APIDeliveries == 0 {
			t.Errorf("observer source %q, API deliveries %d; want etcd and > 0", in.ObserverSource, in.APIDeliveries)
		}
		if r.Totals.ScaleEvents != 2 || r.Totals.MissedStreams != 0 || r.FanoutCompletion.Count != 2 {
			t.Errorf("events %d, missed %d, fanout %+v", r.Totals.ScaleEvents, r.Totals.MissedStreams, r.FanoutCompletion)
		}
	})

	t.Run("controller killed mid-run", func(t *testing.T) {
		victim := destination(t)
		admin := state(t).Cluster("").DestinationAdminAddr
		base, err := dstmetrics.Scrape(context.Background(), http.DefaultClient, "http://"+admin+"/metrics")
		if err != nil {
			t.Fatal(err)
		}
		killed := make(chan error, 1)
		go func() {
			// Kill once this run's 50 streams are up (the controller
			// counts the Get calls), and a little into the churn.
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			for ctx.Err() == nil {
				s, err := dstmetrics.Scrape(ctx, http.DefaultClient, "http://"+admin+"/metrics")
				if err == nil && s.GRPCStarted-base.GRPCStarted >= 50 && s.Subscribers >= 50 {
					time.Sleep(3 * time.Second)
					killed <- syscall.Kill(victim.PID, syscall.SIGKILL)
					return
				}
				time.Sleep(200 * time.Millisecond)
			}
			killed <- ctx.Err()
		}()
		code, stdout, stderr, r := run(t, "killed", append(oscillate, "--settle", "5s")...)
		if err := <-killed; err != nil {
			t.Fatalf("kill the controller: %v", err)
		}
		if code != exitCriteria {
			t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitCriteria, stdout, stderr)
		}
		if r.Destination.Restarts < 1 || r.Totals.StreamErrors == 0 || r.Destination.ScrapeErrors == 0 {
			t.Errorf("restarts %d, stream errors %d, scrape errors %d", r.Destination.Restarts, r.Totals.StreamErrors, r.Destination.ScrapeErrors)
		}
		// The progress tells of the dead controller, not its last figures.
		if !strings.Contains(stderr, "destination metrics unreachable since") {
			t.Errorf("progress never said the destination was unreachable:\n%s", stderr)
		}
		// `up` restarts the same controller with the same flags.
		if code, stdout, stderr := cli(t, "up", "--provider", "local"); code != 0 {
			t.Fatalf("up after the kill: exit %d\n%s\n%s", code, stdout, stderr)
		}
		again := destination(t)
		if again.PID == victim.PID || !slices.Equal(again.Cmdline[:2], []string{bin, "destination"}) || !local.Alive(again) {
			t.Fatalf("destination after up: %+v (was pid %d)", again, victim.PID)
		}
	})

	t.Run("destination-arg", func(t *testing.T) {
		before := destination(t)
		const arg = "-stream-queue-capacity=1"
		if code, stdout, stderr := cli(t, "up", "--provider", "local", "--destination-arg="+arg); code != 0 {
			t.Fatalf("up --destination-arg: exit %d\n%s\n%s", code, stdout, stderr)
		}
		p := destination(t)
		if p.PID == before.PID || !slices.Contains(p.Cmdline, arg) || p.Cmdline[0] != bin {
			t.Fatalf("controller not restarted with %s: %+v", arg, p)
		}
		// Whatever a queue of one does to the streams, the run reports it
		// and records the flag.
		_, stdout, stderr, r := run(t, "queue-capacity-1", oscillate...)
		if !slices.Contains(r.Environment.DestinationArgs, arg) || r.Environment.DestinationBin != bin {
			t.Errorf("report environment %+v", r.Environment)
		}
		t.Logf("queue capacity 1: verdict %s, overflows %.0f, resets %d\n%s\n%s", r.Verdict, r.Destination.QueueOverflows, r.Totals.StreamResets, stdout, stderr)
		// A plain `up` keeps the flag.
		if code, stdout, stderr := cli(t, "up", "--provider", "local"); code != 0 || !strings.Contains(stdout, "already up") {
			t.Fatalf("plain up: exit %d\n%s\n%s", code, stdout, stderr)
		}
		if q := destination(t); q.PID != p.PID {
			t.Errorf("plain up restarted the controller (pid %d -> %d)", p.PID, q.PID)
		}
	})

	t.Run("down", func(t *testing.T) {
		procs := state(t).Processes
		if code, stdout, stderr := cli(t, "down"); code != 0 {
			t.Fatalf("down: exit %d\n%s\n%s", code, stdout, stderr)
		}
		for _, p := range procs {
			if local.Alive(p) {
				t.Errorf("%s (pid %d) still runs after down", p.Name, p.PID)
			}
		}
	})
}
