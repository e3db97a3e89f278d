package provision

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/dstload/dstload/certs"
)

// StackHook is the hook for what gets installed into the clusters once they are
// ready (the Helm releases: linkerd-crds, linkerd-control-plane, ...). It is
// implemented outside this package (provision/stack) and plugged into
// Lifecycle.Stack by the caller; nil means no stack.
type StackHook interface {
	// Install runs after Provider.Create returned (clusters ready, trust
	// root in st.TrustRootDir) and before the destination controller is
	// started. It must be idempotent (Up runs it again on resume) and may
	// keep its own record in st.StackData (then call save).
	Install(ctx context.Context, env Env, st *State, save SaveFunc) error
	// Uninstall runs in Down before Provider.Delete, but only for providers
	// that do not own their clusters (kubeconfig): deleting a local or k3d
	// cluster removes its releases anyway.
	Uninstall(ctx context.Context, env Env, st *State, save SaveFunc) error
	// Status reports the releases; it never changes anything.
	//
	// Status and Uninstall are only called when st.StackData is set:
	// Install must record itself there before it installs anything, so an
	// environment made with no stack (or before Install ran) is not judged
	// by releases it never asked for.
	Status(ctx context.Context, env Env, st *State) ([]ComponentStatus, error)
}

// ClusterOwner is implemented by providers whose Delete removes the clusters
// themselves (local, k3d); for them Down skips StackHook.Uninstall.
type ClusterOwner interface {
	OwnsClusters() bool
}

// Validator is implemented by providers that can check their Config before
// anything is created; Up calls it first so that bad input changes nothing.
type Validator interface {
	Validate() error
}

// Preflighter is implemented by providers that depend on a service outside
// dstload (k3d: the Docker daemon). Up calls Preflight after Validate and
// before anything is saved; unlike a Validate error, its error is a runtime
// failure, not bad input: the settings are fine, the service is not.
type Preflighter interface {
	Preflight(ctx context.Context) error
}

// Reconfigurer is implemented by providers that can apply a changed
// setting to an environment that is already up (local: adding or replacing
// the destination controller). Up resumes instead of reporting "already up"
// when NeedsChange says so.
type Reconfigurer interface {
	NeedsChange(st *State) bool
}

// ConfigError marks bad user settings (the caller maps it to a usage error).
type ConfigError struct{ Err error }

func (e *ConfigError) Usage()        {}
func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// Lifecycle runs Up, Down and Status for one environment (Env says which).
//
// Factories in Providers must accept a zero Config: Down and Status build
// the provider recorded in the state file without the user's flags.
type Lifecycle struct {
	Env       Env
	Providers *Registry
	// Stack is installed after the clusters are ready; nil = none.
	Stack StackHook
	// TrustRoot configures the Linkerd trust root that Up ensures in
	// <envDir>/certs.
	TrustRoot certs.TrustRootOptions
}

// UpResult says what Up did.
type UpResult struct {
	AlreadyUp bool
	Resumed   bool
	State     *State
	Elapsed   time.Duration
}

// ErrInterrupted wraps a context cancellation during Up or Down: what was
// created is recorded in the state file.
var ErrInterrupted = errors.New("interrupted; what was created is recorded: run 'dstload up' again to resume or 'dstload down' to remove it")

// ProviderMismatchError means the environment exists with another provider.
type ProviderMismatchError struct{ Name, Have, Want string }

func (e *ProviderMismatchError) Usage() {}

func (e *ProviderMismatchError) Error() string {
	return fmt.Sprintf("environment %q exists with provider %q, not %q; run 'dstload down' first or pick another --name", e.Name, e.Have, e.Want)
}

func (e *Lifecycle) saveFunc() SaveFunc {
	return func(st *State) error { return SaveState(e.Env.Dir, st) }
}

// Up creates the environment with the named provider, or resumes a partial
// one. A healthy, complete environment is left untouched (AlreadyUp).
func (e *Lifecycle) Up(ctx context.Context, providerName string, cfg Config) (*UpResult, error) {
	start := time.Now()
	cfg.Name = e.Env.Name
	p, err := e.Providers.New(providerName, cfg)
	if err != nil {
		return nil, err
	}
	if v, ok := p.(Validator); ok {
		if err := v.Validate(); err != nil {
			return nil, &ConfigError{Err: err}
		}
	}
	if pf, ok := p.(Preflighter); ok {
		if err := pf.Preflight(ctx); err != nil {
			return nil, interrupted(ctx, err)
		}
	}
	lock, err := LockEnv(e.Env.Dir)
	if err != nil {
		return nil, err
	}
	defer lock.Unlock()

	st, err := LoadState(e.Env.Dir)
	res := &UpResult{}
	switch {
	case errors.Is(err, ErrNoState):
		now := time.Now().UTC()
		st = &State{Name: e.Env.Name, Provider: providerName, Phase: PhaseCreating, CreatedAt: now}
	case err != nil:
		return nil, err
	case st.Provider != providerName:
		return nil, &ProviderMismatchError{Name: e.Env.Name, Have: st.Provider, Want: providerName}
	default:
		rc, canChange := p.(Reconfigurer)
		if st.Phase == PhaseReady && !(canChange && rc.NeedsChange(st)) {
			comps, err := e.status(ctx, p, st)
			if err == nil && allHealthy(comps) {
				return &UpResult{AlreadyUp: true, State: st, Elapsed: time.Since(start)}, nil
			}
		}
		res.Resumed = true
		e.Env.Progressf("resuming environment %q (phase %s)", e.Env.Name, st.Phase)
	}
	res.State = st
	caps := p.Info()
	st.Capabilities = &caps
	save := e.saveFunc()

	if err := os.MkdirAll(e.Env.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", e.Env.Dir, err)
	}
	if err := os.Chmod(e.Env.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("secure %s: %w", e.Env.Dir, err)
	}
	st.Phase = PhaseCreating
	if err := save(st); err != nil {
		return nil, err
	}
	if err := p.Create(ctx, e.Env, st, save); err != nil {
		if !res.Resumed && st.empty() {
			// Refused before anything was made (missing binaries, a port
			// in use ...): leave no environment behind.
			e.removeEmpty()
		}
		return res, interrupted(ctx, fmt.Errorf("create %s environment: %w", providerName, err))
	}
	// The trust root is made once the clusters exist, before the stack
	// (whose Linkerd install needs it).
	if st.TrustRootDir == "" {
		st.TrustRootDir = filepath.Join(e.Env.Dir, "certs")
	}
	if _, outcome, err := certs.EnsureTrustRoot(st.TrustRootDir, e.TrustRoot); err != nil {
		return res, fmt.Errorf("trust root: %w", err)
	} else if outcome.AnchorCreated {
		st.TrustRootCreated = true
		e.Env.Progressf("created trust root in %s", st.TrustRootDir)
	}
	if err := save(st); err != nil {
		return res, err
	}
	if e.Stack != nil {
		if err := e.Stack.Install(ctx, e.Env, st, save); err != nil {
			return res, interrupted(ctx, fmt.Errorf("install stack: %w", err))
		}
	}
	if dr, ok := p.(DestinationRunner); ok {
		if err := dr.StartDestination(ctx, e.Env, st, save); err != nil {
			return res, interrupted(ctx, fmt.Errorf("destination controller: %w", err))
		}
	}
	st.Phase = PhaseReady
	if err := save(st); err != nil {
		return res, err
	}
	res.Elapsed = time.Since(start)
	return res, nil
}

// interrupted turns an error caused by Ctrl-C into ErrInterrupted, keeping
// the cause for the log.
func interrupted(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", ErrInterrupted, err)
	}
	return err
}

// DownResult says what Down did.
type DownResult struct {
	// NothingToRemove is true when no state existed.
	NothingToRemove bool
	Provider        string
}

// Down removes everything the state file records. It succeeds when there is
// nothing, and after a partial Up.
func (e *Lifecycle) Down(ctx context.Context) (*DownResult, error) {
	if _, err := os.Stat(e.Env.Dir); errors.Is(err, os.ErrNotExist) {
		return &DownResult{NothingToRemove: true}, nil
	}
	lock, err := LockEnv(e.Env.Dir)
	if err != nil {
		return nil, err
	}
	defer lock.Unlock()
	st, err := LoadState(e.Env.Dir)
	if errors.Is(err, ErrNoState) {
		e.removeEmpty() // our lock file, and the directory if nothing else is in it
		return &DownResult{NothingToRemove: true}, nil
	}
	if err != nil {
		return nil, err
	}
	p, err := e.Providers.New(st.Provider, Config{})
	if err != nil {
		return nil, fmt.Errorf("environment %q was made by provider %q: %w", e.Env.Name, st.Provider, err)
	}
	save := e.saveFunc()
	caps := capabilities(p, st)
	st.Capabilities = &caps
	st.Phase = PhaseDeleting
	if err := save(st); err != nil {
		return nil, err
	}
	owns := false
	if co, ok := p.(ClusterOwner); ok {
		owns = co.OwnsClusters()
	}
	if e.Stack != nil && !owns && len(st.StackData) > 0 {
		if err := e.Stack.Uninstall(ctx, e.Env, st, save); err != nil {
			return nil, interrupted(ctx, fmt.Errorf("uninstall stack: %w", err))
		}
	}
	if err := p.Delete(ctx, e.Env, st, save); err != nil {
		return nil, interrupted(ctx, fmt.Errorf("delete %s environment: %w", st.Provider, err))
	}
	// The trust root goes too when this environment's Up made it; one the
	// user generated beforehand ('dstload certs generate') stays.
	if st.TrustRootCreated && st.TrustRootDir != "" {
		if err := os.RemoveAll(st.TrustRootDir); err != nil {
			return nil, fmt.Errorf("remove trust root: %w", err)
		}
	}
	if err := RemoveState(e.Env.Dir); err != nil {
		return nil, err
	}
	e.removeEmpty()
	return &DownResult{Provider: st.Provider}, nil
}

// removeEmpty removes the state file, the lock and the environment
// directory when nothing else is left in it (removing a held lock file is
// fine on Linux).
func (e *Lifecycle) removeEmpty() {
	_ = RemoveState(e.Env.Dir)
	_ = os.Remove(filepath.Join(e.Env.Dir, ".lock"))
	_ = os.Remove(e.Env.Dir) // only succeeds when empty
}

// StatusReport is what `dstload status` shows: the environment and the health
// of each of its components (a run's report is workload/report.Report).
type StatusReport struct {
	Name       string            `json:"name"`
	Dir        string            `json:"dir"`
	Exists     bool              `json:"exists"`
	Provider   string            `json:"provider,omitempty"`
	Phase      string            `json:"phase,omitempty"`
	Clusters   []Cluster         `json:"clusters,omitempty"`
	Components []ComponentStatus `json:"components,omitempty"`
	// Monitoring is the environment's own Prometheus, when it runs one.
	Monitoring *MonitoringStatus `json:"monitoring,omitempty"`
	Healthy    bool              `json:"healthy"`
}

// Status reports the environment without changing it.
func (e *Lifecycle) Status(ctx context.Context) (*StatusReport, error) {
	r := &StatusReport{Name: e.Env.Name, Dir: e.Env.Dir}
	st, err := LoadState(e.Env.Dir)
	if errors.Is(err, ErrNoState) {
		return r, nil
	}
	if err != nil {
		return nil, err
	}
	r.Exists, r.Provider, r.Phase, r.Clusters = true, st.Provider, st.Phase, st.Clusters
	p, err := e.Providers.New(st.Provider, Config{})
	if err != nil {
		return nil, fmt.Errorf("environment %q was made by provider %q: %w", e.Env.Name, st.Provider, err)
	}
	comps, err := e.status(ctx, p, st)
	if err != nil {
		return nil, err
	}
	r.Components = comps
	r.Healthy = st.Phase == PhaseReady && allHealthy(comps)
	if mr, ok := p.(MonitoringReporter); ok {
		r.Monitoring = mr.MonitoringStatus(ctx, e.Env, st)
	}
	return r, nil
}

func (e *Lifecycle) status(ctx context.Context, p Provider, st *State) ([]ComponentStatus, error) {
	caps := capabilities(p, st)
	st.Capabilities = &caps // for the stack; Status saves nothing
	comps, err := p.Status(ctx, e.Env, st)
	if err != nil {
		return nil, fmt.Errorf("%s status: %w", st.Provider, err)
	}
	if e.Stack != nil && len(st.StackData) > 0 {
		sc, err := e.Stack.Status(ctx, e.Env, st)
		if err != nil {
			// An unreachable cluster is reported, not fatal: status must
			// still show which process died.
			sc = []ComponentStatus{{Name: "stack", Health: Unhealthy, Detail: err.Error()}}
		}
		comps = append(comps, sc...)
	}
	return comps, nil
}

func allHealthy(comps []ComponentStatus) bool {
	for _, c := range comps {
		if c.Health != Healthy && c.Health != Absent {
			return false
		}
	}
	return true
}
