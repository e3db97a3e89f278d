package local_test

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/dstload/dstload/internal/testutil"
	"github.com/dstload/dstload/provision"
	"github.com/dstload/dstload/provision/local"
	"github.com/dstload/dstload/provision/local/localtest"
)

// BenchmarkUp measures `dstload up --provider local --no-stack` with cached
// binaries: from nothing to a Ready cluster (5 processes healthy, 3 fake
// nodes Ready, default ServiceAccount and the kubernetes EndpointSlice
// present), trust root included. Down runs with the timer stopped.
//
//	DSTLOAD_BIN_DIR=/tmp/cpbin go test ./provision/local -run '^$' -bench 'BenchmarkUp$' -benchtime 10x
//
// 2026-11-26, 2-core team machine, load average 4-6: 3.30 s/op.
func BenchmarkUp(b *testing.B) {
	localtest.RequireBinaries(b)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		e := benchEnv(b)
		b.StartTimer()
		if _, err := e.Up(context.Background(), local.ProviderName, provision.Config{}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		localtest.Stop(b, e)
		b.StartTimer()
	}
}

// BenchmarkUpVsKwokctl is the same-run baseline the issue names: each
// iteration brings up a dstload local cluster and a kwokctl v0.8.0 cluster
// (binary runtime, the same binaries, `--wait`; kwokctl creates no nodes)
// one after the other, so both see the same machine load, and reports their
// times and the ratio dstload/kwokctl. Needs kwokctl on PATH or in $KWOKCTL
// and DSTLOAD_BIN_DIR; skipped otherwise.
//
//	DSTLOAD_BIN_DIR=/tmp/cpbin KWOKCTL=/path/to/kwokctl \
//	  go test ./provision/local -run '^$' -bench UpVsKwokctl -benchtime 10x
//
// 2026-11-26, same machine and load: dstload 3.34 s, kwokctl 3.79 s per up,
// ratio 0.88 (at load average 9-10: 4.83 s vs 5.20 s, ratio 0.93).
func BenchmarkUpVsKwokctl(b *testing.B) {
	kwokctl := os.Getenv("KWOKCTL")
	if kwokctl == "" {
		var err error
		if kwokctl, err = exec.LookPath("kwokctl"); err != nil {
			b.Skip("kwokctl not found (go install sigs.k8s.io/kwok/cmd/kwokctl@v0.8.0; set KWOKCTL)")
		}
	}
	binDir := os.Getenv(local.BinDirEnv)
	if binDir == "" {
		b.Skip("set " + local.BinDirEnv + " so both use the same binaries")
	}
	bin := func(n string) string { return filepath.Join(binDir, n) }
	b.StopTimer()
	var ours, theirs time.Duration
	for i := 0; i < b.N; i++ {
		e := benchEnv(b)
		start := time.Now()
		if _, err := e.Up(context.Background(), local.ProviderName, provision.Config{}); err != nil {
			b.Fatal(err)
		}
		ours += time.Since(start)
		localtest.Stop(b, e)

		home := b.TempDir()
		name := "bench" + strconv.Itoa(i)
		run := func(args ...string) {
			cmd := exec.Command(kwokctl, args...)
			cmd.Env = append(os.Environ(), "KWOK_WORKDIR="+home, "HOME="+home)
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("kwokctl %v: %v\n%s", args, err, out)
			}
		}
		start = time.Now()
		run("create", "cluster", "--name", name, "--runtime", "binary",
			"--kube-apiserver-binary", bin("kube-apiserver"),
			"--kube-controller-manager-binary", bin("kube-controller-manager"),
			"--kube-scheduler-binary", bin("kube-scheduler"),
			"--etcd-binary", bin("etcd"),
			"--kwok-controller-binary", bin("kwok"),
			"--wait", "1m")
		theirs += time.Since(start)
		run("delete", "cluster", "--name", name)
	}
	b.ReportMetric(ours.Seconds()/float64(b.N), "dstload-s/up")
	b.ReportMetric(theirs.Seconds()/float64(b.N), "kwokctl-s/up")
	b.ReportMetric(float64(ours)/float64(theirs), "ratio")
}

func benchEnv(b *testing.B) *provision.Lifecycle {
	bins := os.Getenv(local.BinDirEnv)
	reg := provision.NewRegistry()
	reg.Register(local.ProviderName, func(provision.Config) (provision.Provider, error) {
		return local.New(local.Options{BinDir: bins, NoDestination: true}), nil
	})
	return &provision.Lifecycle{
		Env:       provision.Env{Name: "bench", Dir: filepath.Join(b.TempDir(), "bench"), Log: testutil.Discard(), Progress: io.Discard},
		Providers: reg,
	}
}
