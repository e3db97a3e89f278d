package runner

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/dstload/dstload/workload/record"
)

// canaryInterval is how often the observer writes its canary. Each write
// is an API request and two watch deliveries, in the observer and in
// every watcher of EndpointSlices (the destination controller included);
// at 4 a second the writes alone were 15% of the observer's CPU
// profile in a full-size run. The canary
// samples the observer's delay, and the error bound no longer rests on
// it alone: an Add a stream received before the observer saw its slice
// is evidence of that delay too (report.instrument).
const canaryInterval = time.Second

// observerProc is `dstload observe` as a child process: the reference clock
// of the update latencies gets a process of its own, so that the client
// streams in this process cannot delay its timestamps (docs/latency.md).
type observerProc struct {
	cmd         *exec.Cmd
	admin       string
	recordsFile string
	logFile     string
	exited      chan error
	http        *http.Client
	// cluster is the observed cluster's name when a run observes two.
	cluster string
}

// startObserver runs spec's observer command for tg's services, following
// the event feed at feedURL, and returns once its initial state is
// recorded.
func startObserver(ctx context.Context, cfg Config, spec observerSpec, tg *Targets, feedURL, dir string) (*observerProc, error) {
	if len(spec.command) == 0 {
		return nil, errors.New("no observer command (runner.Config.ObserverCommand)")
	}
	name := "observer"
	if spec.cluster != "" {
		name += "-" + spec.cluster
	}
	p := &observerProc{
		recordsFile: filepath.Join(dir, name+"-records.json"),
		logFile:     filepath.Join(dir, name+".log"),
		exited:      make(chan error, 1),
		http:        &http.Client{Timeout: 5 * time.Second},
		cluster:     spec.cluster,
	}
	args := append(append([]string(nil), spec.command[1:]...),
		"--kubeconfig", spec.kubeconfig, "--namespace", tg.Namespace, "--services", strings.Join(tg.Names(), ","),
		"--port-name", "http", "--events-url", feedURL, "--metrics-addr", "127.0.0.1:0",
		"--records-file", p.recordsFile, "--log-format", "json", "--canary-interval", canaryInterval.String())
	if spec.context != "" {
		args = append(args, "--context", spec.context)
	}
	logf, err := os.OpenFile(p.logFile, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("observer log: %w", err)
	}
	defer logf.Close()
	// Not CommandContext: stop sends SIGTERM so that the records get
	// written; Pdeathsig ends the observer if this process dies first.
	p.cmd = exec.Command(spec.command[0], args...)
	p.cmd.Env = cfg.ObserverEnv
	p.cmd.Stderr = logf
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("observer: %w", err)
	}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start observer %s: %w", spec.command[0], err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "observe admin="); ok {
				addr <- a
			}
		}
		p.exited <- p.cmd.Wait()
	}()
	t := time.NewTimer(cfg.ReadyTimeout)
	defer t.Stop()
	select {
	case p.admin = <-addr:
		return p, nil
	case err := <-p.exited:
		return nil, fmt.Errorf("observer exited before it was ready (%v); its log: %s", err, p.logFile)
	case <-t.C:
		p.kill()
		return nil, fmt.Errorf("observer not ready within %s; its log: %s", cfg.ReadyTimeout, p.logFile)
	case <-ctx.Done():
		p.kill()
		return nil, context.Cause(ctx)
	}
}

// readyEndpoints is the observer's count of ready endpoints (-1 when it
// cannot be read).
func (p *observerProc) readyEndpoints(ctx context.Context) float64 {
	return p.count(ctx, "/ready-endpoints")
}

// kubeMissed is the number of events the cluster did not complete before
// the next one (-1 when it cannot be read).
func (p *observerProc) kubeMissed(ctx context.Context) int {
	return int(p.count(ctx, "/kube-missed"))
}

// readySet is one service's ready endpoints as the observer sees them now.
func (p *observerProc) readySet(ctx context.Context, service string) (map[string]bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.admin+"/ready-set?service="+url.QueryEscape(service), nil)
	if err != nil {
		return nil, err
	}
	resp, err := p.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("observer /ready-set: %s", resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, a := range strings.Fields(string(b)) {
		out[a] = true
	}
	return out, nil
}

// count reads one number from the observer's admin port.
func (p *observerProc) count(ctx context.Context, path string) float64 {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.admin+path, nil)
	if err != nil {
		return -1
	}
	resp, err := p.http.Do(req)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64))
	if err != nil || resp.StatusCode != http.StatusOK {
		return -1
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return -1
	}
	return float64(n)
}

// stop ends the observer (SIGTERM: it writes its records and exits) and
// returns its records.
func (p *observerProc) stop() (record.Set, error) {
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return record.Set{}, fmt.Errorf("stop observer: %w", err)
	}
	select {
	case err := <-p.exited:
		if err != nil {
			return record.Set{}, fmt.Errorf("observer failed (%v); its log: %s", err, p.logFile)
		}
	case <-time.After(30 * time.Second):
		p.kill()
		return record.Set{}, fmt.Errorf("observer did not stop within 30s; its log: %s", p.logFile)
	}
	s, err := record.ReadFile(p.recordsFile)
	if err != nil {
		return record.Set{}, fmt.Errorf("observer records: %w", err)
	}
	return s, nil
}

// kill ends the observer without its records (run failed anyway).
func (p *observerProc) kill() {
	_ = p.cmd.Process.Kill()
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
	}
}
