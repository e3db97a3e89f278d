// Package localtest starts a real local cluster (etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, kwok with fake nodes) for
// integration tests of other packages.
//
// Usage:
//
//	func TestSomething(t *testing.T) {
//		c := localtest.Start(t, localtest.Options{})   // nodes Ready when it returns
//		pods, err := c.Clientset.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
//		// c.Kubeconfig / c.Context for tools that take a path (Helm, the
//		// destination controller); c.RESTConfig for client-go;
//		// c.TrustRootDir holds the Linkerd trust anchor and issuer.
//		// Pods land on the fake nodes with:
//		//   nodeSelector: {type: kwok}
//		//   tolerations: [{key: kwok.x-k8s.io/node, operator: Exists, effect: NoSchedule}]
//		// (fakenode.Selector / fakenode.Toleration).
//	}
//
// Each call gets its own state in t.TempDir() and its own ports on
// 127.0.0.1; t.Cleanup stops exactly the processes it started (by PID,
// verified by start time) and fails the test if one survives. Binaries are
// found as `dstload up --provider local` finds them: DSTLOAD_BIN_DIR, PATH,
// the cache (~/.cache/dstload/controlplane/<pin>), or built once with Go.
// When they cannot be found the test fails under CI (CI=true) and is skipped
// otherwise. Options.Stack runs a provision.StackHook hook (e.g. the Helm
// releases) exactly where `dstload up` runs it; Options.DestinationBin runs a
// destination controller binary (a real one, or a test stand-in) after it.
package localtest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/dstload/dstload/provision"
	"github.com/dstload/dstload/provision/local"
)

// Options configure Start. The zero value is a 3-node cluster without a
// destination controller.
type Options struct {
	// Nodes is the number of fake nodes (default 3).
	Nodes int
	// Stack is installed after the cluster is ready, as `dstload up` does.
	Stack provision.StackHook
	// DestinationBin runs this binary as the destination controller
	// (`BIN destination -kubeconfig ... -addr ... -metrics-addr ...`) and
	// waits for its admin /ready. Empty: no destination controller.
	DestinationBin string
	// Log receives the provider's logs (default: discarded unless -v).
	Log *slog.Logger
}

// Cluster is a running local cluster.
type Cluster struct {
	// Dir is the environment directory (in t.TempDir()).
	Dir          string
	Name         string
	Kubeconfig   string
	Context      string
	Server       string
	TrustRootDir string
	RESTConfig   *rest.Config
	Clientset    *kubernetes.Clientset
	// DestinationAddr / DestinationAdminAddr are set when
	// Options.DestinationBin was given.
	DestinationAddr      string
	DestinationAdminAddr string
	// Env and State are the environment's provision view (for Status).
	Env   provision.Env
	State *provision.State
	// Lifecycle can run Status or Down again.
	Lifecycle *provision.Lifecycle
}

// Start brings up a cluster and registers its teardown with t.Cleanup.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	RequireBinaries(t)
	log := opts.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
		if testing.Verbose() {
			log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
		}
	}
	dir := filepath.Join(t.TempDir(), "env")
	env := provision.Env{Name: "localtest", Dir: dir, Log: log, Progress: io.Discard}
	if testing.Verbose() {
		env.Progress = os.Stderr
	}
	reg := provision.NewRegistry()
	reg.Register(local.ProviderName, func(cfg provision.Config) (provision.Provider, error) {
		return local.New(local.Options{
			Nodes:          opts.Nodes,
			BinDir:         os.Getenv(local.BinDirEnv),
			DestinationBin: opts.DestinationBin,
			NoDestination:  opts.DestinationBin == "",
		}), nil
	})
	e := &provision.Lifecycle{Env: env, Providers: reg, Stack: opts.Stack}
	t.Cleanup(func() { Stop(t, e) })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := e.Up(ctx, local.ProviderName, provision.Config{})
	if err != nil {
		t.Fatalf("localtest: start cluster: %v", err)
	}
	c := res.State.Cluster("")
	cfg, err := provision.RESTConfig(c.Kubeconfig, c.Context)
	if err != nil {
		t.Fatalf("localtest: kubeconfig: %v", err)
	}
	cfg.QPS, cfg.Burst = 200, 400
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatalf("localtest: client: %v", err)
	}
	return &Cluster{
		Dir: dir, Name: env.Name, Kubeconfig: c.Kubeconfig, Context: c.Context, Server: c.Server,
		TrustRootDir: res.State.TrustRootDir, RESTConfig: cfg, Clientset: cs,
		DestinationAddr: c.DestinationAddr, DestinationAdminAddr: c.DestinationAdminAddr,
		Env: env, State: res.State, Lifecycle: e,
	}
}

// Stop tears the environment down (Start registers it with t.Cleanup; call
// it yourself only to test teardown). It fails the test when a process
// survives.
func Stop(t testing.TB, e *provision.Lifecycle) {
	t.Helper()
	st, err := provision.LoadState(e.Env.Dir)
	if errors.Is(err, provision.ErrNoState) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := e.Down(ctx); err != nil {
		t.Errorf("localtest: stop cluster: %v", err)
		return
	}
	if st != nil {
		for _, p := range st.Processes {
			if local.Alive(p) {
				t.Errorf("localtest: %s (pid %d) still runs after stop", p.Name, p.PID)
			}
		}
	}
}

// RequireBinaries fails (under CI=true) or skips the test when the
// control-plane binaries are neither present nor buildable. Start calls it.
func RequireBinaries(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	var progress io.Writer = io.Discard
	if testing.Verbose() {
		progress = os.Stderr
	}
	_, err := local.ResolveBinaries(ctx, local.ResolveOptions{BinDir: os.Getenv(local.BinDirEnv), Progress: progress})
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("localtest: %v", err)
	}
	t.Skipf("localtest: no local control-plane binaries (set %s or build them with hack/controlplane/build.sh): %v", local.BinDirEnv, err)
}

// DestinationBinEnv names Linkerd's real controller binary for the tests
// that judge the destination controller (.ci/run sets it to the
// controller built from Linkerd's sources at the pinned edge release).
const DestinationBinEnv = local.DestinationBinEnv

// RealDestination returns the Linkerd controller binary named by
// DSTLOAD_DESTINATION_BIN. Without it the test fails under CI (CI=true)
// and is skipped elsewhere: a user's `dstload up` pulls the controller
// image instead, which these tests must not depend on.
func RealDestination(t testing.TB) string {
	t.Helper()
	bin := os.Getenv(DestinationBinEnv)
	switch {
	case bin == "" && os.Getenv("CI") == "true":
		t.Fatalf("localtest: %s is not set: point it at a Linkerd controller binary (`controller destination ...`)", DestinationBinEnv)
	case bin == "":
		t.Skipf("localtest: set %s to a Linkerd controller binary to run the tests against the real destination controller", DestinationBinEnv)
	}
	abs, err := filepath.Abs(bin)
	if err != nil {
		t.Fatalf("localtest: %s: %v", DestinationBinEnv, err)
	}
	if fi, err := os.Stat(abs); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		t.Fatalf("localtest: %s=%s is not an executable file", DestinationBinEnv, bin)
	}
	return abs
}

// RequirePrometheus returns the path of the prometheus binary on PATH
// (and of promtool next to it, "" when absent). Without it the test fails
// under CI (CI=true; .ci/run installs Debian's package) and is skipped
// elsewhere.
func RequirePrometheus(t testing.TB) (prometheus, promtool string) {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	switch {
	case err != nil && os.Getenv("CI") == "true":
		t.Fatalf("localtest: no prometheus on PATH: %s", local.PrometheusHint)
	case err != nil:
		t.Skipf("localtest: no prometheus on PATH (%s)", local.PrometheusHint)
	}
	tool, err := exec.LookPath("promtool")
	if err != nil {
		tool = ""
	}
	return bin, tool
}
