package local

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/dstload/dstload/provision"
	"github.com/dstload/dstload/provision/fakenode"
	"github.com/dstload/dstload/provision/local/controlplane"
)

func TestValidate(t *testing.T) {
	exe := filepath.Join(t.TempDir(), "controller")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		opts Options
		want string // "" = valid
	}{
		{"defaults", Options{}, ""},
		{"too many nodes", Options{Nodes: MaxNodes + 1}, "--nodes"},
		{"negative nodes", Options{Nodes: -1}, "--nodes"},
		{"two clusters", Options{Clusters: 2}, ""},
		{"three clusters", Options{Clusters: 3}, "--clusters 3"},
		{"both destinations", Options{DestinationBin: exe, DestinationAddr: "127.0.0.1:1"}, "exclude each other"},
		{"missing destination bin", Options{DestinationBin: "/nonexistent/controller"}, "not an executable"},
		{"bad destination addr", Options{DestinationAddr: "localhost"}, "host:port"},
		{"bad port", Options{APIPort: 70000}, "--api-port"},
		{"bad bin dir", Options{BinDir: "/nonexistent"}, "--bin-dir"},
		{"destination bin", Options{DestinationBin: exe}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := New(tc.opts).Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestProcessIdentityAndStop(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "logs", "sleep.log")
	p, err := startProcess("sleep", "", []string{"/bin/sleep", "60"}, os.Environ(), logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stopProcess(context.Background(), p, time.Second) })
	if !alive(p) {
		t.Fatal("started process not alive")
	}
	for name, other := range map[string]provision.Process{
		"other start time": {PID: p.PID, StartTime: p.StartTime + 1, Cmdline: p.Cmdline},
		"other cmdline":    {PID: p.PID, StartTime: p.StartTime, Cmdline: []string{"/bin/sleep", "61"}},
	} {
		if alive(other) {
			t.Errorf("%s: a different process was taken for ours", name)
		}
		// stopProcess must not signal a process that is not ours.
		if err := stopProcess(context.Background(), other, 100*time.Millisecond); err != nil || !alive(p) {
			t.Fatalf("%s: stop touched our process (%v)", name, err)
		}
	}
	// Own session: not in the test's process group, so a terminal's Ctrl-C
	// does not reach it.
	if pgid, sid := pgidSid(t, p.PID); pgid != p.PID || sid != p.PID {
		t.Errorf("pgid %d sid %d, want both %d", pgid, sid, p.PID)
	}
	if err := stopProcess(context.Background(), p, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if alive(p) {
		t.Fatal("process alive after stop")
	}
	if fi, err := os.Stat(logPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("log file: %v %v", fi, err)
	}
}

func pgidSid(t *testing.T, pid int) (int, int) {
	t.Helper()
	data, err := os.ReadFile("/proc/" + itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	return atoi(t, f[2]), atoi(t, f[3])
}

func TestPickPorts(t *testing.T) {
	ports, err := pickPorts(0)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for name, p := range ports {
		if p <= 0 || seen[p] {
			t.Fatalf("port %s = %d repeats or is invalid: %v", name, p, ports)
		}
		seen[p] = true
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	busy := l.Addr().(*net.TCPAddr).Port
	_, err = pickPorts(busy)
	var inUse *PortInUseError
	if !errors.As(err, &inUse) || inUse.Port != busy {
		t.Fatalf("api port in use: got %v", err)
	}
}

func TestFakeNodes(t *testing.T) {
	var prefixes []netip.Prefix
	for i := 0; i < MaxNodes; i++ {
		n := fakenode.New(i)
		p := netip.MustParsePrefix(n.Spec.PodCIDR)
		if 1<<(32-p.Bits()) < 10000 {
			t.Fatalf("node %d: pod CIDR %s too small for 10,000 pods", i, p)
		}
		for _, q := range prefixes {
			if q.Overlaps(p) {
				t.Fatalf("pod CIDRs %s and %s overlap", q, p)
			}
		}
		if svc := netip.MustParsePrefix(serviceCIDR); svc.Overlaps(p) {
			t.Fatalf("pod CIDR %s overlaps the service CIDR", p)
		}
		prefixes = append(prefixes, p)
		if pods := n.Status.Allocatable.Pods().Value(); pods < 10000 {
			t.Fatalf("node %d allocatable pods %d", i, pods)
		}
	}
}

func TestEmbeddedStages(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kwok.yaml")
	if err := writeKwokConfig(path); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, doc := range strings.Split(strings.TrimPrefix(string(data), "---\n"), "\n---\n") {
		var obj struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(strings.TrimPrefix(doc, "---\n")), &obj); err != nil {
			t.Fatal(err)
		}
		switch obj.Kind {
		case "Stage":
			names = append(names, obj.Metadata.Name)
		case "KwokConfiguration":
		default:
			t.Fatalf("document of kind %q", obj.Kind)
		}
	}
	if got := strings.Join(names, ","); got != "node-heartbeat,node-initialize,pod-complete,pod-delete,pod-ready" {
		t.Fatalf("stages %s", got)
	}
}

func TestResolveBinaries(t *testing.T) {
	full := t.TempDir()
	for _, n := range controlplane.Binaries {
		if err := os.WriteFile(filepath.Join(full, n), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bins, err := ResolveBinaries(context.Background(), ResolveOptions{BinDir: full})
	if err != nil || bins["kube-apiserver"] != filepath.Join(full, "kube-apiserver") {
		t.Fatalf("bin dir: %v %v", bins, err)
	}
	partial := t.TempDir()
	if err := os.WriteFile(filepath.Join(partial, "etcd"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err = ResolveBinaries(context.Background(), ResolveOptions{BinDir: partial})
	var missing *MissingBinariesError
	if !errors.As(err, &missing) || len(missing.Missing) != 4 || !strings.Contains(err.Error(), "build.sh") {
		t.Fatalf("partial bin dir: %v", err)
	}
	// Empty PATH and cache, building forbidden: one error naming the fixes.
	t.Setenv("PATH", t.TempDir())
	_, err = ResolveBinaries(context.Background(), ResolveOptions{CacheDir: t.TempDir(), NoBuild: true})
	if !errors.As(err, &missing) || len(missing.Missing) != len(controlplane.Binaries) || !strings.Contains(err.Error(), "--bin-dir") {
		t.Fatalf("nothing available: %v", err)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func atoi(t *testing.T, s string) int {
	t.Helper()
	i, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return i
}

func TestFreePortsAvoidEphemeralRange(t *testing.T) {
	low, high := belowEphemeral()
	if low > high {
		t.Skip("no room below the ephemeral port range on this machine")
	}
	ports, err := freePorts(20)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if p < low || p > high || seen[p] {
			t.Fatalf("port %d repeats or lies outside %d-%d: %v", p, low, high, ports)
		}
		seen[p] = true
	}
}
