package local_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/dstload/dstload/provision"
	"github.com/dstload/dstload/provision/local"
	"github.com/dstload/dstload/provision/local/localtest"
)

// BenchmarkUp measures `dstload up --provider local --no-stack` with cached
// binaries: from nothing to a Ready cluster (5 processes healthy, 3 fake
// nodes Ready, default ServiceAccount present), trust root included. Down
// runs with the timer stopped. Compare with BenchmarkKwokctlUp (same
// binaries, kwokctl's binary runtime) in the same run:
//
//	go test ./provision/local -run '^$' -bench 'Up$' -benchtime 5x
func BenchmarkUp(b *testing.B) {
	localtest.RequireBinaries(b)
	bins := os.Getenv(local.BinDirEnv)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		reg := provision.NewRegistry()
		reg.Register(local.ProviderName, func(provision.Config) (provision.Provider, error) {
			return local.New(local.Options{BinDir: bins, NoDestination: true}), nil
		})
		e := &provision.Environment{
			Env:       provision.Env{Name: "bench", Dir: filepath.Join(b.TempDir(), "bench"), Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Progress: io.Discard},
			Providers: reg,
		}
		b.StartTimer()
		if _, err := e.Up(context.Background(), local.ProviderName, provision.Config{}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		localtest.Stop(b, e)
		b.StartTimer()
	}
}

// BenchmarkKwokctlUp is the baseline the issue names: kwokctl's binary
// runtime bringing the same binaries to a ready cluster (`kwokctl create
// cluster --runtime binary`, which waits for its components; it creates no
// nodes). Needs kwokctl v0.8.0 on PATH or in $KWOKCTL; skipped otherwise.
func BenchmarkKwokctlUp(b *testing.B) {
	kwokctl := os.Getenv("KWOKCTL")
	if kwokctl == "" {
		var err error
		if kwokctl, err = exec.LookPath("kwokctl"); err != nil {
			b.Skip("kwokctl not found (go install sigs.k8s.io/kwok/cmd/kwokctl@v0.8.0; set KWOKCTL)")
		}
	}
	binDir := os.Getenv(local.BinDirEnv)
	if binDir == "" {
		b.Skip("set " + local.BinDirEnv + " so kwokctl uses the same binaries")
	}
	bin := func(n string) string { return filepath.Join(binDir, n) }
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		home := b.TempDir()
		name := "bench" + strconv.Itoa(i)
		run := func(args ...string) {
			cmd := exec.Command(kwokctl, args...)
			cmd.Env = append(os.Environ(), "KWOK_WORKDIR="+home, "HOME="+home)
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("kwokctl %v: %v\n%s", args, err, out)
			}
		}
		b.StartTimer()
		start := time.Now()
		run("create", "cluster", "--name", name, "--runtime", "binary",
			"--kube-apiserver-binary", bin("kube-apiserver"),
			"--kube-controller-manager-binary", bin("kube-controller-manager"),
			"--kube-scheduler-binary", bin("kube-scheduler"),
			"--etcd-binary", bin("etcd"),
			"--kwok-controller-binary", bin("kwok"),
			"--wait", "1m")
		b.StopTimer()
		b.Logf("kwokctl create: %s", time.Since(start))
		run("delete", "cluster", "--name", name)
	}
}
