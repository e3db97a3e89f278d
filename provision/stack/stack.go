package stack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	apiextclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	"k8s.io/client-go/kubernetes"

	"github.com/dstload/dstload/certs"
)

// DefaultTimeout bounds each release's install or upgrade (and, where pods
// run, its wait for readiness).
const DefaultTimeout = 5 * time.Minute

// Config is everything the stack needs from `dstload up/down/status`.
type Config struct {
	// Env is the environment name; releases and namespaces dstload creates
	// carry it in OwnerLabel.
	Env string
	// Kubeconfig and Context select the cluster.
	Kubeconfig string
	Context    string
	Selection  Selection
	// Mirror and CacheDir configure where charts come from (see Source).
	Mirror   string
	CacheDir string
	// TrustRoot gives linkerd-control-plane its anchor and issuer. Up needs
	// it; Status and Down do not.
	TrustRoot *certs.TrustRoot
	// UserValues are the user's values files by release name.
	UserValues map[string][]string
	// UserSet are the user's --set assignments by release name.
	UserSet map[string][]string
	// Timeout per release; 0 means the release's own (Release.Timeout),
	// else DefaultTimeout.
	Timeout time.Duration
	Log     *slog.Logger
	// Progress receives one human line per release; nil discards.
	Progress io.Writer
}

// Installer installs, reports and removes the planned releases of one cluster.
type Installer struct {
	cfg      Config
	releases []Release
	source   *Source
}

// New validates cfg and plans the releases.
func New(cfg Config) (*Installer, error) {
	if cfg.Env == "" {
		return nil, errors.New("stack: no environment name")
	}
	if cfg.Kubeconfig == "" {
		return nil, errors.New("stack: no kubeconfig")
	}
	rels, err := Plan(cfg.Selection)
	if err != nil {
		return nil, err
	}
	if err := checkNames(Releases(), cfg.UserValues, "values file"); err != nil {
		return nil, err
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	return &Installer{
		cfg:      cfg,
		releases: rels,
		source:   &Source{Mirror: cfg.Mirror, CacheDir: cfg.CacheDir, Log: cfg.Log},
	}, nil
}

// Releases returns the planned releases in install order.
func (s *Installer) Releases() []Release { return slices.Clone(s.releases) }

// Action says what Up did with a release.
type Action string

const (
	Installed Action = "installed"
	Upgraded  Action = "upgraded"
	// Unchanged: the deployed release already had this chart version and
	// these values; no new revision was made.
	Unchanged Action = "unchanged"
)

// Result is the outcome of one release in Up.
type Result struct {
	Release   string        `json:"release"`
	Namespace string        `json:"namespace"`
	Chart     string        `json:"chart"`
	Version   string        `json:"version"`
	Revision  int           `json:"revision"`
	Action    Action        `json:"action"`
	Origin    Origin        `json:"origin"`
	Duration  time.Duration `json:"duration"`
}

// ReleaseError says which release failed. Its message is one line.
type ReleaseError struct {
	Release, Chart, Version, Namespace string
	Err                                error
}

func (e *ReleaseError) Error() string {
	return oneLine(fmt.Sprintf("release %s (chart %s %s, namespace %s): %v", e.Release, e.Chart, e.Version, e.Namespace, e.Err))
}

func (e *ReleaseError) Unwrap() error { return e.Err }

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// Up installs or upgrades every planned release in order and stops at the
// first failure. It is idempotent: a release whose deployed revision already
// has the same chart version and values is left alone, and a run after a
// failure or an interruption picks up where the last one stopped.
func (s *Installer) Up(ctx context.Context) ([]Result, error) {
	if s.cfg.TrustRoot == nil {
		return nil, errors.New("stack: no trust root for linkerd-control-plane")
	}
	var results []Result
	for _, rel := range s.releases {
		start := time.Now()
		res, err := s.upOne(ctx, rel)
		if err != nil {
			return results, &ReleaseError{Release: rel.Name, Chart: rel.Chart, Version: rel.Version, Namespace: rel.Namespace, Err: err}
		}
		res.Duration = time.Since(start)
		results = append(results, res)
		fmt.Fprintf(s.cfg.Progress, "%s %s: %s (revision %d, chart from %s) in %s\n",
			rel.Name, rel.Version, res.Action, res.Revision, res.Origin, res.Duration.Round(10*time.Millisecond))
		s.cfg.Log.Debug("release ready", "release", rel.Name, "version", rel.Version, "action", res.Action,
			"revision", res.Revision, "origin", res.Origin, "duration", res.Duration)
	}
	return results, nil
}

func (s *Installer) upOne(ctx context.Context, rel Release) (Result, error) {
	res := Result{Release: rel.Name, Namespace: rel.Namespace, Chart: rel.Chart, Version: rel.Version}
	fetched, err := s.source.Fetch(ctx, rel)
	if err != nil {
		return res, err
	}
	res.Origin = fetched.Origin

	getter := NewRESTGetter(s.cfg.Kubeconfig, s.cfg.Context, rel.Namespace, s.cfg.Log)
	restCfg, err := getter.ToRESTConfig()
	if err != nil {
		return res, err
	}
	cs, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return res, err
	}
	ext, err := apiextclient.NewForConfig(restCfg)
	if err != nil {
		return res, err
	}

	nsLabels, nsAnnotations := namespaceMeta(rel.Name, rel.Namespace)
	if err := ensureNamespace(ctx, cs, rel.Namespace, s.cfg.Env, nsLabels, nsAnnotations); err != nil {
		return res, err
	}
	if len(rel.NeedsCRDs) > 0 {
		if err := waitCRDsEstablished(ctx, ext, rel.NeedsCRDs, s.timeout(rel)); err != nil {
			return res, err
		}
	}

	computed, err := s.computedValues(ctx, ext, rel)
	if err != nil {
		return res, err
	}
	vals, err := BuildValues(rel.Name, ValueLayers{
		Embedded:  embeddedValues(rel.Name),
		UserFiles: s.cfg.UserValues[rel.Name],
		UserSet:   s.cfg.UserSet[rel.Name],
		Computed:  computed,
	})
	if err != nil {
		return res, err
	}

	cfg, err := s.actionConfig(getter, rel.Namespace)
	if err != nil {
		return res, err
	}
	last, err := cfg.Releases.Last(rel.Name)
	switch {
	case errors.Is(err, driver.ErrReleaseNotFound):
		last = nil
	case err != nil:
		return res, fmt.Errorf("read release history: %w", err)
	}
	if last != nil {
		if owner := last.Labels[OwnerLabel]; owner != s.cfg.Env {
			return res, fmt.Errorf("a release of this name exists and was not installed by dstload environment %q (owner %q); uninstall it or use another cluster", s.cfg.Env, owner)
		}
		if last.Info.Status.IsPending() {
			// An interrupted run left it pending; Helm refuses to touch a
			// pending release, so record it as failed and upgrade over it.
			s.cfg.Log.Warn("release was left pending by an interrupted run; retrying", "release", rel.Name, "status", last.Info.Status)
			last.SetStatus(release.StatusFailed, "interrupted; marked failed by dstload to retry")
			if err := cfg.Releases.Update(last); err != nil {
				return res, fmt.Errorf("reset pending release: %w", err)
			}
		}
		if last.Info.Status == release.StatusUninstalled {
			last = nil
		}
	}

	labels := map[string]string{OwnerLabel: s.cfg.Env}
	local := s.cfg.Selection.Local
	var out *release.Release
	switch {
	case last == nil:
		in := action.NewInstall(cfg)
		in.ReleaseName, in.Namespace = rel.Name, rel.Namespace
		in.Timeout = s.timeout(rel)
		in.Labels = labels
		// Where no pod runs, waiting or hook Jobs would only block until the
		// timeout.
		in.Wait, in.Atomic, in.DisableHooks = !local, !local, local
		out, err = in.RunWithContext(ctx, fetched.Chart, vals)
		res.Action = Installed
	case last.Info.Status == release.StatusDeployed && sameChart(last.Chart, fetched.Chart) && sameValues(last.Config, vals):
		res.Action, res.Revision = Unchanged, last.Version
		return res, nil
	default:
		up := action.NewUpgrade(cfg)
		up.Namespace = rel.Namespace
		up.Timeout = s.timeout(rel)
		up.Labels = labels
		up.ResetValues = true // vals is the complete set; never merge old ones
		up.MaxHistory = 10
		up.Wait, up.Atomic, up.CleanupOnFail, up.DisableHooks = !local, !local, !local, local
		out, err = up.RunWithContext(ctx, rel.Name, fetched.Chart, vals)
		res.Action = Upgraded
	}
	if err != nil {
		if !local && ctx.Err() == nil && strings.Contains(err.Error(), context.DeadlineExceeded.Error()) {
			// Helm only says "context deadline exceeded".
			return res, fmt.Errorf("not ready within %s (raise --ready-timeout, or check that the cluster's pods can run): %w", s.timeout(rel), err)
		}
		return res, err
	}
	res.Revision = out.Version
	return res, nil
}

// timeout is how long rel may take to install, wait or uninstall.
func (s *Installer) timeout(rel Release) time.Duration {
	switch {
	case s.cfg.Timeout > 0:
		return s.cfg.Timeout
	case rel.Timeout > 0:
		return rel.Timeout
	}
	return DefaultTimeout
}

// computedValues are the values dstload derives for rel.
func (s *Installer) computedValues(ctx context.Context, ext apiextclient.Interface, rel Release) (map[string]any, error) {
	switch rel.Name {
	case "linkerd-crds":
		flags, err := gatewayRouteFlags(ctx, ext, rel.Name, rel.Namespace)
		if err != nil {
			return nil, err
		}
		for k := range flags {
			s.cfg.Log.Info("Gateway API CRDs already installed by another owner; linkerd-crds leaves them alone", "value", k)
		}
		return flags, nil
	case "linkerd-control-plane":
		v, err := IdentityValues(s.cfg.TrustRoot)
		if err != nil {
			return nil, err
		}
		if s.cfg.Selection.Monitoring {
			v["podMonitor"] = map[string]any{"enabled": true}
		}
		return v, nil
	}
	return nil, nil
}

// actionConfig is a Helm action configuration for one namespace, logging
// Helm's chatter at debug level only.
func (s *Installer) actionConfig(getter *RESTGetter, namespace string) (*action.Configuration, error) {
	log := s.cfg.Log
	cfg := new(action.Configuration)
	debug := func(format string, v ...any) {
		if log.Enabled(context.Background(), slog.LevelDebug) {
			log.Debug(oneLine(fmt.Sprintf(format, v...)), "component", "helm")
		}
	}
	if err := cfg.Init(getter, namespace, "secret", debug); err != nil {
		return nil, fmt.Errorf("helm: %w", err)
	}
	return cfg, nil
}

func sameChart(a, b *chart.Chart) bool {
	return a != nil && b != nil && a.Metadata != nil && b.Metadata != nil &&
		a.Metadata.Name == b.Metadata.Name && a.Metadata.Version == b.Metadata.Version
}

// sameValues compares values as stored: Helm keeps them as JSON, so both
// sides go through JSON first (numbers, nil maps).
func sameValues(a, b map[string]any) bool {
	na, errA := normalize(a)
	nb, errB := normalize(b)
	return errA == nil && errB == nil && reflect.DeepEqual(na, nb)
}

func normalize(m map[string]any) (any, error) {
	if len(m) == 0 {
		return map[string]any{}, nil
	}
	data, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	var out any
	err = json.Unmarshal(data, &out)
	return out, err
}
