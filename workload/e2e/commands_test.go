package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dstload/dstload/internal/testutil"
	"github.com/dstload/dstload/provision/local/localtest"
	"github.com/dstload/dstload/workload/record"
)

// buildBinary compiles a main package of this module into dir.
func buildBinary(t *testing.T, dir, pkg string) string {
	t.Helper()
	out := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = "../.."
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// freeAddr picks a loopback port for a child process's listener.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// start runs a child process; t.Cleanup kills it (by its PID) if it still
// runs. Its stderr goes to the test log when -v is given.
func start(t *testing.T, bin string, args ...string) (*exec.Cmd, io.ReadCloser) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	if testing.Verbose() {
		cmd.Stderr = os.Stderr
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd, stdout
}

// stop sends SIGTERM and waits for a clean exit.
func stop(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("%s exited: %v", cmd.Path, err)
		}
	case <-time.After(20 * time.Second):
		t.Errorf("%s did not stop within 20s of SIGTERM", cmd.Path)
	}
}

func httpGet(url string) (int, string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func getRecords(t *testing.T, url string) record.Set {
	t.Helper()
	resp, err := http.Get(url + "/records")
	if err != nil {
		return record.Set{}
	}
	defer resp.Body.Close()
	s, err := record.Read(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func metricValue(body, series string) float64 {
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}

// TestCommands runs the real processes the way the local provider and
// other engineers' tests do: the test Destination server
// (internal/dsttest/cmd/dsttest), `dstload client` following `dstload
// churn`'s event feed, records collected over HTTP and from the files each
// writes when stopped.
func TestCommands(t *testing.T) {
	cl := localtest.Start(t, localtest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	const services, streams = 2, 3
	createTargets(ctx, t, cl.Clientset, services)

	dir := t.TempDir()
	dstload := buildBinary(t, dir, "./cmd/dstload")
	dsttestBin := buildBinary(t, dir, "./internal/dsttest/cmd/dsttest")

	dst, out := start(t, dsttestBin, "-kubeconfig", cl.Kubeconfig, "-namespace", ns)
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("dsttest: %v", err)
	}
	m := regexp.MustCompile(`^dsttest grpc=(\S+) admin=(\S+)\n$`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("dsttest printed %q", line)
	}
	dstAddr, dstAdmin := m[1], "http://"+m[2]

	churnAddr, clientAddr := freeAddr(t), freeAddr(t)
	churnURL, clientURL := "http://"+churnAddr, "http://"+clientAddr
	kube := []string{"--kubeconfig", cl.Kubeconfig, "--context", cl.Context, "--namespace", ns, "--selector", selector}
	clientRecords, churnRecords := filepath.Join(dir, "client.json"), filepath.Join(dir, "churn.json")
	cli, _ := start(t, dstload, append([]string{"client", "--destination-addr", dstAddr, "--streams-per-service", strconv.Itoa(streams),
		"--connections", "2", "--sample-streams", "-1", "--client-name", "cli", "--events-url", churnURL,
		"--backoff-min", "20ms", "--backoff-max", "200ms", "--metrics-addr", clientAddr, "--records-file", clientRecords}, kube...)...)
	testutil.WaitFor(t, time.Minute, "client /ready", func() bool {
		code, _, _ := httpGet(clientURL + "/ready")
		return code == http.StatusOK
	})
	testutil.WaitFor(t, time.Minute, "client snapshots", func() bool {
		_, body, _ := httpGet(clientURL + "/metrics")
		return metricValue(body, "dstload_client_endpoints") == services*streams*minRep
	})

	ch, _ := start(t, dstload, append([]string{"churn", "--pattern", "oscillate", "--min", strconv.Itoa(minRep), "--max", strconv.Itoa(maxRep),
		"--hold", "3s", "--cycles", "1", "--jitter", "200ms", "--port-name", "http",
		"--metrics-addr", churnAddr, "--records-file", churnRecords}, kube...)...)
	testutil.WaitFor(t, time.Minute, "two waves converged in every stream", func() bool {
		return len(getRecords(t, clientURL).StreamConvergence) == 2*services*streams
	})

	// A reset from the server: counted by cause, streams come back.
	if resp, err := http.Post(dstAdmin+"/reset", "", nil); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /reset: %v %v", resp, err)
	}
	testutil.WaitFor(t, 30*time.Second, "resets counted and streams back", func() bool {
		_, body, _ := httpGet(clientURL + "/metrics")
		return metricValue(body, `dstload_client_stream_resets_total{cause="Unavailable"}`) == services*streams &&
			metricValue(body, "dstload_client_streams") == services*streams &&
			metricValue(body, "dstload_client_endpoints") == services*streams*minRep
	})

	stop(t, cli)
	stop(t, ch)
	stop(t, dst)
	var sets []record.Set
	for _, f := range []string{churnRecords, clientRecords} {
		s, err := record.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sets = append(sets, s)
	}
	a := record.Analyze(record.Merge(sets...))
	if len(a.Events) != 2*services {
		t.Errorf("%d events, want %d", len(a.Events), 2*services)
	}
	for _, e := range a.Events {
		if !e.FanoutComplete || e.Converged != streams {
			t.Errorf("event %s #%d: %+v", e.Service, e.Seq, e)
		}
	}
	if len(a.UpdateLatencies) != 2*services*streams*(maxRep-minRep) || len(a.MissedUpdates) != 0 {
		t.Errorf("%d update latencies, %d missed; want %d and 0", len(a.UpdateLatencies), len(a.MissedUpdates), 2*services*streams*(maxRep-minRep))
	}
	want := []record.EndCount{{Cause: "Unavailable", Count: services * streams}}
	if fmt.Sprint(a.Ends) != fmt.Sprint(want) {
		t.Errorf("ends %v, want %v", a.Ends, want)
	}
}
