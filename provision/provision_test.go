package provision

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dstload/dstload/internal/testutil"
)

func TestStateRoundTripAndCorruption(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "env")
	if _, err := LoadState(dir); !errors.Is(err, ErrNoState) {
		t.Fatalf("no state: got %v, want ErrNoState", err)
	}
	st := &State{Name: "e", Provider: "local", Phase: PhaseCreating}
	st.SetProcess(Process{Name: "etcd", PID: 42, StartTime: 7, Cmdline: []string{"etcd"}})
	st.SetProcess(Process{Name: "etcd", PID: 43, StartTime: 8, Cmdline: []string{"etcd"}})
	st.SetCluster(Cluster{Name: "e", Kubeconfig: "/k"})
	if err := SaveState(dir, st); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, StateFileName): 0o600} {
		fi, err := os.Stat(path)
		if err != nil || fi.Mode().Perm() != want {
			t.Fatalf("%s: mode %v (%v), want %v", path, fi.Mode().Perm(), err, want)
		}
	}
	got, err := LoadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Processes) != 1 || got.Processes[0].PID != 43 || got.Cluster("").Kubeconfig != "/k" {
		t.Fatalf("round trip: %+v", got)
	}
	if matches, _ := filepath.Glob(filepath.Join(dir, ".state-*")); len(matches) != 0 {
		t.Fatalf("temporary files left: %v", matches)
	}

	for _, tc := range []struct{ name, content, want string }{
		{"not json", "{", "unreadable"},
		{"wrong version", `{"version": 99, "provider": "local"}`, "version 99"},
		{"no provider", `{"version": 1}`, "no provider"},
		{"bad pid", `{"version": 1, "provider": "local", "processes": [{"name": "etcd", "pid": 0}]}`, "no valid PID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := t.TempDir()
			if err := os.WriteFile(filepath.Join(d, StateFileName), []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadState(d)
			var ce *CorruptStateError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("got %v, want a one-line CorruptStateError containing %q", err, tc.want)
			}
		})
	}
}

func TestLockIsExclusive(t *testing.T) {
	dir := t.TempDir()
	l, err := LockEnv(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LockEnv(dir); !errors.Is(err, ErrLocked) {
		t.Fatalf("second lock: %v, want ErrLocked", err)
	}
	l.Unlock()
	l2, err := LockEnv(dir)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	l2.Unlock()
}

func TestRegistryUnknownProvider(t *testing.T) {
	r := NewRegistry()
	r.Register("local", func(Config) (Provider, error) { return &recorder{}, nil })
	_, err := r.New("k3d", Config{})
	var up *UnknownProviderError
	if !errors.As(err, &up) || !strings.Contains(err.Error(), "--provider local") || !strings.Contains(err.Error(), `"k3d"`) {
		t.Fatalf("got %v, want an error naming k3d and --provider local", err)
	}
	if p, err := r.New("local", Config{}); err != nil || p == nil {
		t.Fatalf("registered provider: %v", err)
	}
}

// recorder is a provider that records calls and can fail at a step; it
// tests the orchestration (the real providers have their own tests with
// real processes).
type recorder struct {
	calls     []string
	failAt    string
	healthy   bool
	interrupt context.CancelFunc
}

func (r *recorder) Name() string       { return "rec" }
func (r *recorder) Info() Capabilities { return Capabilities{} }
func (r *recorder) Create(ctx context.Context, env Env, st *State, save SaveFunc) error {
	r.calls = append(r.calls, "create")
	st.SetProcess(Process{Name: "a", PID: 1, StartTime: 1, Cmdline: []string{"a"}})
	if err := save(st); err != nil {
		return err
	}
	if r.interrupt != nil {
		r.interrupt()
		return ctx.Err()
	}
	if r.failAt == "create" {
		return errors.New("boom")
	}
	st.SetCluster(Cluster{Name: env.Name, Kubeconfig: filepath.Join(env.Dir, "kubeconfig")})
	r.healthy = true
	return save(st)
}
func (r *recorder) Delete(ctx context.Context, env Env, st *State, save SaveFunc) error {
	r.calls = append(r.calls, "delete")
	st.Processes, st.Clusters = nil, nil
	r.healthy = false
	return save(st)
}
func (r *recorder) Status(ctx context.Context, env Env, st *State) ([]ComponentStatus, error) {
	r.calls = append(r.calls, "status")
	h := Unhealthy
	if r.healthy {
		h = Healthy
	}
	return []ComponentStatus{{Name: "a", Health: h}}, nil
}
func (r *recorder) StartDestination(ctx context.Context, env Env, st *State, save SaveFunc) error {
	r.calls = append(r.calls, "destination")
	return nil
}

type stackRecorder struct{ calls *[]string }

func (s stackRecorder) Install(ctx context.Context, env Env, st *State, save SaveFunc) error {
	*s.calls = append(*s.calls, "stack-install")
	st.StackData = []byte(`{}`)
	return save(st)
}
func (s stackRecorder) Uninstall(ctx context.Context, env Env, st *State, save SaveFunc) error {
	*s.calls = append(*s.calls, "stack-uninstall")
	return nil
}
func (s stackRecorder) Status(ctx context.Context, env Env, st *State) ([]ComponentStatus, error) {
	return []ComponentStatus{{Name: "release/x", Health: Healthy}}, nil
}

func newTestEnv(t *testing.T, p *recorder) *Lifecycle {
	reg := NewRegistry()
	reg.Register("rec", func(Config) (Provider, error) { return p, nil })
	return &Lifecycle{
		Env:       Env{Name: "e", Dir: filepath.Join(t.TempDir(), "e"), Log: testutil.Discard(), Progress: io.Discard},
		Providers: reg,
		Stack:     stackRecorder{calls: &p.calls},
	}
}

func TestEnvironmentOrder(t *testing.T) {
	p := &recorder{}
	e := newTestEnv(t, p)
	ctx := context.Background()
	res, err := e.Up(ctx, "rec", Config{})
	if err != nil || res.AlreadyUp {
		t.Fatalf("up: %+v %v", res, err)
	}
	// The stack needs the cluster; the destination controller needs the
	// stack's CRDs.
	if got := strings.Join(p.calls, ","); got != "create,stack-install,destination" {
		t.Fatalf("up order %s", got)
	}
	if res.State.Phase != PhaseReady || !res.State.TrustRootCreated {
		t.Fatalf("state after up: %+v", res.State)
	}
	for _, f := range []string{"ca.crt", "ca.key", "issuer.crt", "issuer.key"} {
		if _, err := os.Stat(filepath.Join(e.Env.Dir, "certs", f)); err != nil {
			t.Fatalf("trust root: %v", err)
		}
	}
	p.calls = nil
	res, err = e.Up(ctx, "rec", Config{})
	if err != nil || !res.AlreadyUp {
		t.Fatalf("second up: %+v %v", res, err)
	}
	if got := strings.Join(p.calls, ","); got != "status" {
		t.Fatalf("second up did more than check status: %s", got)
	}
	if _, err := e.Up(ctx, "other", Config{}); err == nil {
		t.Fatal("up with an unregistered provider succeeded")
	}
	p.calls = nil
	if _, err := e.Down(ctx); err != nil {
		t.Fatal(err)
	}
	// recorder does not own its clusters, so the stack is uninstalled first.
	if got := strings.Join(p.calls, ","); got != "stack-uninstall,delete" {
		t.Fatalf("down order %s", got)
	}
	if _, err := os.Stat(e.Env.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("environment dir left after down: %v", err)
	}
}

func TestEnvironmentPartialUp(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    func(cancel context.CancelFunc) *recorder
		want error
	}{
		{"failure", func(context.CancelFunc) *recorder { return &recorder{failAt: "create"} }, nil},
		{"ctrl-c", func(cancel context.CancelFunc) *recorder { return &recorder{interrupt: cancel} }, ErrInterrupted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			p := tc.p(cancel)
			e := newTestEnv(t, p)
			if _, err := e.Up(ctx, "rec", Config{}); err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("up: %v, want failure %v", err, tc.want)
			}
			st, err := LoadState(e.Env.Dir)
			if err != nil || st.Phase != PhaseCreating || st.Process("", "a") == nil {
				t.Fatalf("partial state: %+v %v, want the started process recorded", st, err)
			}
			p.calls = nil
			if _, err := e.Down(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(p.calls, ","); got != "delete" {
				t.Fatalf("down after partial up: %s (no stack was recorded, so none is uninstalled)", got)
			}
			if _, err := LoadState(e.Env.Dir); !errors.Is(err, ErrNoState) {
				t.Fatalf("state after down: %v", err)
			}
		})
	}
}
