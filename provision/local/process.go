package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/dstload/dstload/provision"
)

// startProcess starts argv as a supervised process that outlives dstload: it
// gets its own session (so Ctrl-C in dstload's terminal does not reach it),
// stdout/stderr appended to logPath, and is recorded with its start time so
// that a reused PID is never mistaken for it.
func startProcess(name, cluster string, argv, env []string, logPath string) (provision.Process, error) {
	if err := os.MkdirAll(filepath.Dir(logPath), 0o700); err != nil {
		return provision.Process{}, fmt.Errorf("create log dir: %w", err)
	}
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return provision.Process{}, fmt.Errorf("open log: %w", err)
	}
	defer logf.Close() // the child has its own copy
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return provision.Process{}, err
	}
	defer devnull.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stdin = devnull
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return provision.Process{}, fmt.Errorf("start %s: %w", name, err)
	}
	// Reap the child if it exits while we still run (tests, a long up), so
	// that it never lingers as a zombie that looks alive.
	go func() { _ = cmd.Wait() }()
	st, err := procStartTime(cmd.Process.Pid)
	if err != nil {
		_ = cmd.Process.Kill()
		return provision.Process{}, fmt.Errorf("start %s: read its start time: %w", name, err)
	}
	p := provision.Process{
		Name:      name,
		Cluster:   cluster,
		PID:       cmd.Process.Pid,
		StartTime: st,
		Cmdline:   argv,
		Log:       logPath,
	}
	// Go's vfork-style start returns once the child is inside execve, but
	// the kernel fills in the new program's arguments a moment later: until
	// then /proc/PID/cmdline reads empty and alive(p) would say "not ours".
	// Wait for the exec to finish so that alive(p) holds from here on. A
	// child that dies at once is left to the caller's readiness check.
	for deadline := time.Now().Add(2 * time.Second); !alive(p) && time.Now().Before(deadline); {
		if s, _, err := procStat(p.PID); err != nil || s == 'Z' {
			break
		}
		time.Sleep(time.Millisecond)
	}
	return p, nil
}

// procStat returns the state letter and start time (field 22) of a PID.
func procStat(pid int) (state byte, start uint64, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// The command name (field 2) is in parentheses and may contain spaces;
	// fields after the last ')' are fixed.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	fields := strings.Fields(string(data[i+1:]))
	if len(fields) < 20 {
		return 0, 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	start, err = strconv.ParseUint(fields[19], 10, 64) // field 22 overall
	if err != nil {
		return 0, 0, fmt.Errorf("malformed /proc/%d/stat: %w", pid, err)
	}
	return fields[0][0], start, nil
}

func procStartTime(pid int) (uint64, error) {
	_, st, err := procStat(pid)
	return st, err
}

// alive reports whether the recorded process still runs: same PID, same
// start time and same command line. A zombie counts as gone.
func alive(p provision.Process) bool {
	state, start, err := procStat(p.PID)
	if err != nil || state == 'Z' || start != p.StartTime {
		return false
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p.PID))
	if err != nil {
		return false
	}
	args := strings.Split(strings.TrimSuffix(string(raw), "\x00"), "\x00")
	return slices.Equal(args, p.Cmdline)
}

// stopProcess stops a recorded process if it is still the one we started:
// SIGTERM, then SIGKILL after grace, and waits until it is gone.
func stopProcess(ctx context.Context, p provision.Process, grace time.Duration) error {
	if !alive(p) {
		return nil
	}
	if err := syscall.Kill(p.PID, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stop %s (pid %d): %w", p.Name, p.PID, err)
	}
	if waitGone(ctx, p, grace) {
		return nil
	}
	if !alive(p) {
		return nil
	}
	if err := syscall.Kill(p.PID, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill %s (pid %d): %w", p.Name, p.PID, err)
	}
	if waitGone(ctx, p, 5*time.Second) {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("%s (pid %d) did not exit after SIGKILL", p.Name, p.PID)
}

func waitGone(ctx context.Context, p provision.Process, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if !alive(p) {
			return true
		}
		select {
		case <-ctx.Done():
			return !alive(p)
		case <-time.After(20 * time.Millisecond):
		}
	}
	return !alive(p)
}

// Alive reports whether a recorded process is still the one that was
// started (same PID, start time and command line) and has not exited.
func Alive(p provision.Process) bool { return alive(p) }
