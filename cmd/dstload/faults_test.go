package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dstload/dstload/provision"
	"github.com/dstload/dstload/provision/local"
	"github.com/dstload/dstload/provision/local/localtest"
	"github.com/dstload/dstload/workload/dstmetrics"
	"github.com/dstload/dstload/workload/report"
)

// faultEnv is one environment made by `dstload up` for the fault tests,
// driven through the CLI as a user drives it.
type faultEnv struct {
	t    *testing.T
	dir  string
	name string
	out  string
	bin  string
	// seen is every process the environment ever recorded, so that the
	// last `down` can be checked to leave none of them.
	mu   sync.Mutex
	seen map[int]provision.Process
}

func newFaultEnv(t *testing.T, dir, name, bin string) *faultEnv {
	e := &faultEnv{t: t, dir: dir, name: name, out: t.TempDir(), bin: bin, seen: map[int]provision.Process{}}
	t.Cleanup(func() { runCLI(t, "down", "--state-dir", dir, "--name", name) })
	return e
}

func (e *faultEnv) cli(a ...string) (int, string, string) {
	e.t.Helper()
	start := time.Now()
	code, stdout, stderr := runCLI(e.t, append(append([]string(nil), a...), "--state-dir", e.dir, "--name", e.name)...)
	e.t.Logf("%s: dstload %s: exit %d in %s", e.name, a[0], code, time.Since(start).Round(time.Millisecond))
	return code, stdout, stderr
}

func (e *faultEnv) state() *provision.State {
	e.t.Helper()
	st, err := provision.LoadState(filepath.Join(e.dir, e.name))
	if err != nil {
		e.t.Fatal(err)
	}
	e.mu.Lock()
	for _, p := range st.Processes {
		e.seen[p.PID] = p
	}
	e.mu.Unlock()
	return st
}

// destinationArg is given to the controller by the first `up`; every
// later `up` must keep it.
const destinationArg = "-log-level=info"

// up runs `dstload up` and checks what the issue asks of it after any
// fault: every component healthy, the destination controller the same
// binary and flags, recorded as a supervised process and serving.
func (e *faultEnv) up(a ...string) {
	e.t.Helper()
	args := append([]string{"up", "--provider", "local", "--nodes", "1"}, a...)
	code, stdout, stderr := e.cli(args...)
	if code != 0 {
		e.t.Fatalf("up: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if testing.Verbose() {
		e.t.Logf("up:\n%s", stderr)
	}
	code, stdout, stderr = e.cli("status", "-o", "json")
	var rep provision.StatusReport
	if err := json.Unmarshal([]byte(stdout), &rep); code != 0 || err != nil || !rep.Healthy {
		e.t.Fatalf("status after up: exit %d (%v)\n%s\n%s", code, err, stdout, stderr)
	}
	st := e.state()
	cl, dst := st.Cluster(""), st.Process("", local.Destination)
	if cl.DestinationSource != "process" || cl.DestinationBin != e.bin || !slices.Equal(cl.DestinationArgs, []string{destinationArg}) || dst == nil ||
		dst.Cmdline[0] != e.bin || !slices.Contains(dst.Cmdline, destinationArg) || dst.Addr != cl.DestinationAddr || !local.Alive(*dst) {
		e.t.Fatalf("destination after up: cluster %+v, process %+v", cl, dst)
	}
	for _, c := range rep.Components {
		if c.Health != provision.Healthy {
			e.t.Errorf("after up: %s is %s (%s)", c.Name, c.Health, c.Detail)
		}
	}
}

// run runs a scenario at CI scale and returns its exit code, stderr and
// report.
func (e *faultEnv) run(name string, a ...string) (int, string, *report.Report) {
	e.t.Helper()
	dir := filepath.Join(e.out, name)
	args := append([]string{"run", "--scale", "0.05", "--out", dir, "--metrics-interval", "500ms", "--ready-timeout", "2m"}, a...)
	code, stdout, stderr := e.cli(args...)
	r, err := report.ReadFile(filepath.Join(dir, report.JSONFile))
	if err != nil {
		e.t.Fatalf("exit %d, no report: %v\nstdout:\n%s\nstderr:\n%s", code, err, stdout, stderr)
	}
	return code, stdout + stderr, r
}

// passes is the short run that shows the environment works.
func (e *faultEnv) passes(name string) {
	e.t.Helper()
	if code, stdout, stderr := e.cli("run", "--cleanup"); code != 0 {
		e.t.Fatalf("run --cleanup: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if code, out, r := e.run(name, "baseline", "--duration", "3s"); code != 0 || r.Verdict != report.Pass {
		e.t.Fatalf("short run: exit %d, verdict %s\n%s", code, r.Verdict, out)
	}
}

// down runs `dstload down` and checks that no process the environment
// ever recorded still runs.
func (e *faultEnv) down() {
	e.t.Helper()
	e.state()
	if code, stdout, stderr := e.cli("down"); code != 0 {
		e.t.Fatalf("down: exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, p := range e.seen {
		if local.Alive(p) {
			e.t.Errorf("%s (pid %d) still runs after down", p.Name, p.PID)
		}
	}
}

// whenLoaded calls f once this run's 50 streams are up at the destination
// controller (it counts the Get calls) and the first wave's change has
// reached them (more messages sent than the 50 initial snapshots), so
// that the run has measured something when the fault comes.
func (e *faultEnv) whenLoaded(f func() error) chan error {
	admin := "http://" + e.state().Cluster("").DestinationAdminAddr + "/metrics"
	base, err := dstmetrics.Scrape(context.Background(), http.DefaultClient, admin)
	if err != nil {
		e.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		for ctx.Err() == nil {
			s, err := dstmetrics.Scrape(ctx, http.DefaultClient, admin)
			if err == nil && s.GRPCStarted-base.GRPCStarted >= 50 && s.Subscribers >= 50 && s.GRPCMsgSent-base.GRPCMsgSent >= 100 {
				time.Sleep(500 * time.Millisecond)
				done <- f()
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
		done <- ctx.Err()
	}()
	return done
}

// TestFaults kills each component of a local environment with SIGKILL in
// the middle of a run, against Linkerd's real destination controller, and
// checks what the user sees: within seconds the run names the fault,
// stops the load, and writes a report of what it measured, incomplete
// (exit 5) for a part of the environment, failed (exit 3) for the
// destination controller itself; `up` then repairs everything with the
// same settings, and a short run passes. One environment serves every
// fault, so that the suite stays short.
func TestFaults(t *testing.T) {
	localtest.RequireBinaries(t)
	bin := localtest.RealDestination(t)
	e := newFaultEnv(t, t.TempDir(), "faults", bin)
	e.up("--destination-bin", bin, "--destination-arg="+destinationArg)

	for _, tc := range []struct {
		component string
		code      int
		verdict   string
	}{
		{local.APIServer, exitIncomplete, report.Incomplete},
		{local.Etcd, exitIncomplete, report.Incomplete},
		{local.ControllerManager, exitIncomplete, report.Incomplete},
		{local.Scheduler, exitIncomplete, report.Incomplete},
		{local.Kwok, exitIncomplete, report.Incomplete},
		{local.Destination, exitCriteria, report.Fail},
	} {
		t.Run(tc.component, func(t *testing.T) {
			e.t = t
			victim := e.state().Process("", tc.component)
			if victim == nil {
				t.Fatalf("no %s recorded", tc.component)
			}
			var killed time.Time
			kill := e.whenLoaded(func() error {
				killed = time.Now()
				return syscall.Kill(victim.PID, syscall.SIGKILL)
			})
			code, out, r := e.run("killed-"+tc.component, "small-oscillation", "--cycles", "1", "--hold", "10s", "--settle", "5s")
			if err := <-kill; err != nil {
				t.Fatalf("kill %s: %v\n%s", tc.component, err, out)
			}
			t.Logf("run with %s killed:\n%s", tc.component, out)
			if code != tc.code || r.Verdict != tc.verdict {
				t.Fatalf("exit %d verdict %s, want %d %s\n%s", code, r.Verdict, tc.code, tc.verdict, out)
			}
			f := r.Fault
			if f == nil || f.Component != tc.component || f.UnderTest != (tc.component == local.Destination) || f.Repair == "" {
				t.Fatalf("report fault %+v\n%s", f, out)
			}
			// Noticed within seconds of the kill, and said so: in the
			// progress (with the time it started), and as the reason.
			if d := f.Noticed.Sub(killed); d < 0 || d > 8*time.Second {
				t.Errorf("fault noticed %s after the kill", d)
			}
			since := f.Since.UTC().Format("15:04:05 MST")
			reason := fmt.Sprintf("dstload: scenario small-oscillation is incomplete: %s failed since %s", tc.component, since)
			if tc.component == local.Destination {
				reason = "dstload: scenario small-oscillation failed its criteria; the destination controller failed since " + since
			}
			progress := fmt.Sprintf("%s failed since %s (its process (pid %d) is not running): stopping the load", tc.component, since, victim.PID)
			for _, want := range []string{reason, progress, "repair: 'dstload up'"} {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
			// What was measured until the fault is kept.
			if r.Totals.Streams != 50 || r.Totals.ScaleEvents == 0 || r.UpdateLatency.Count == 0 || len(r.Run.Phases) == 0 {
				t.Errorf("report lost what was measured: totals %+v, sampling %+v", r.Totals, r.Sampling)
			}
			if tc.component == local.Destination && (r.Destination.Restarts < 1 || r.Totals.StreamErrors == 0) {
				t.Errorf("destination crash not counted: restarts %d, stream errors %d", r.Destination.Restarts, r.Totals.StreamErrors)
			}
			e.up()
			if p := e.state().Process("", tc.component); p.PID == victim.PID {
				t.Errorf("%s not restarted (pid %d)", tc.component, p.PID)
			}
			e.passes("after-" + tc.component)
		})
	}
	e.t = t
	e.down()
}

// TestSideBySide runs two environments at the same time, each with its
// own real destination controller: up, run and down concurrently, and
// neither touches the other's processes, ports or files.
func TestSideBySide(t *testing.T) {
	localtest.RequireBinaries(t)
	bin := localtest.RealDestination(t)
	dir := t.TempDir()
	envs := []*faultEnv{newFaultEnv(t, dir, "a", bin), newFaultEnv(t, dir, "b", bin)}
	both := func(f func(e *faultEnv)) {
		var wg sync.WaitGroup
		for _, e := range envs {
			wg.Go(func() { f(e) })
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
	}
	// t.Fatal from another goroutine is not allowed; these report with
	// t.Errorf and both() stops the test.
	both(func(e *faultEnv) {
		if code, stdout, stderr := e.cli("up", "--provider", "local", "--nodes", "1", "--destination-bin", bin); code != 0 {
			t.Errorf("%s: up: exit %d\n%s\n%s", e.name, code, stdout, stderr)
		}
	})
	a, b := envs[0].state(), envs[1].state()
	ports := map[int]string{}
	for _, st := range []*provision.State{a, b} {
		for _, p := range st.Processes {
			for name, port := range p.Ports {
				if other, ok := ports[port]; ok {
					t.Errorf("port %d: %s/%s/%s and %s", port, st.Name, p.Name, name, other)
				}
				ports[port] = st.Name + "/" + p.Name + "/" + name
			}
			if !strings.HasPrefix(p.Log, filepath.Join(dir, st.Name)+string(os.PathSeparator)) {
				t.Errorf("%s/%s logs to %s, outside its environment", st.Name, p.Name, p.Log)
			}
		}
		if !strings.HasPrefix(st.Cluster("").Kubeconfig, filepath.Join(dir, st.Name)+string(os.PathSeparator)) {
			t.Errorf("%s: kubeconfig %s outside its environment", st.Name, st.Cluster("").Kubeconfig)
		}
	}
	if len(a.Processes) != 6 || len(b.Processes) != 6 {
		t.Fatalf("processes: a %d, b %d", len(a.Processes), len(b.Processes))
	}
	both(func(e *faultEnv) {
		dir := filepath.Join(e.out, "baseline")
		code, stdout, stderr := e.cli("run", "baseline", "--scale", "0.05", "--duration", "5s", "--out", dir, "--metrics-interval", "500ms")
		if code != 0 {
			t.Errorf("%s: run: exit %d\n%s\n%s", e.name, code, stdout, stderr)
			return
		}
		r, err := report.ReadFile(filepath.Join(dir, report.JSONFile))
		if err != nil {
			t.Errorf("%s: %v", e.name, err)
			return
		}
		// Each run measured its own environment's controller.
		if addr := e.state().Cluster("").DestinationAddr; r.Environment.DestinationAddr != addr || r.Destination.SubscribersLoadMin != 50 {
			t.Errorf("%s: run measured %s (want %s), subscribers %v", e.name, r.Environment.DestinationAddr, addr, r.Destination.SubscribersLoadMin)
		}
	})
	// Down of one leaves the other whole.
	envs[0].down()
	for _, p := range b.Processes {
		if !local.Alive(p) {
			t.Errorf("b's %s (pid %d) died with a's down", p.Name, p.PID)
		}
	}
	if code, stdout, _ := envs[1].cli("status"); code != 0 || slices.Contains(strings.Fields(stdout), "NOT") {
		t.Errorf("b after a's down: exit %d\n%s", code, stdout)
	}
	envs[1].down()
}
