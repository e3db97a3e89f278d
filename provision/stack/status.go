package stack

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	"k8s.io/client-go/kubernetes"
)

// ReleaseStatus is one line of `dstload status` for the stack.
type ReleaseStatus struct {
	Release    string `json:"release"`
	Namespace  string `json:"namespace"`
	Chart      string `json:"chart,omitempty"`
	Version    string `json:"version,omitempty"`
	AppVersion string `json:"appVersion,omitempty"`
	Revision   int    `json:"revision,omitempty"`
	// State is Helm's status (deployed, failed, pending-install, ...) or
	// "not installed".
	State   string    `json:"state"`
	Updated time.Time `json:"updated,omitzero"`
	// Owner is the dstload environment that installed it ("" = not dstload).
	Owner string `json:"owner,omitempty"`
	// Planned says the release belongs to this environment's stack.
	Planned bool `json:"planned"`
}

// statusRequestTimeout bounds each API request of Status.
const statusRequestTimeout = 10 * time.Second

// NotInstalled is the State of a planned release that is not on the cluster.
const NotInstalled = "not installed"

// Status lists every planned release, and any other declared release found
// on the cluster, with its chart version and state. It changes nothing.
func (s *Installer) Status(ctx context.Context) ([]ReleaseStatus, error) {
	var out []ReleaseStatus
	for _, rel := range Releases() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		planned := slices.ContainsFunc(s.releases, func(r Release) bool { return r.Name == rel.Name })
		last, err := s.lastRelease(rel)
		if err != nil {
			return nil, fmt.Errorf("status of release %s: %w", rel.Name, err)
		}
		if last == nil {
			if planned {
				out = append(out, ReleaseStatus{Release: rel.Name, Namespace: rel.Namespace, State: NotInstalled, Planned: true})
			}
			continue
		}
		st := ReleaseStatus{
			Release: rel.Name, Namespace: rel.Namespace,
			Revision: last.Version, State: last.Info.Status.String(),
			Owner: last.Labels[OwnerLabel], Planned: planned,
		}
		if last.Chart != nil && last.Chart.Metadata != nil {
			st.Chart, st.Version, st.AppVersion = last.Chart.Metadata.Name, last.Chart.Metadata.Version, last.Chart.Metadata.AppVersion
		}
		if last.Info != nil {
			st.Updated = last.Info.LastDeployed.Time
		}
		out = append(out, st)
	}
	return out, nil
}

func (s *Installer) lastRelease(rel Release) (*release.Release, error) {
	getter := NewRESTGetter(s.cfg.Kubeconfig, s.cfg.Context, rel.Namespace, s.cfg.Log)
	// Status must answer promptly even when the API server is gone.
	getter.requestTimeout = statusRequestTimeout
	cfg, err := s.actionConfig(getter, rel.Namespace)
	if err != nil {
		return nil, err
	}
	last, err := cfg.Releases.Last(rel.Name)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return nil, nil
	}
	return last, err
}

// Down uninstalls, in reverse install order, every declared release this
// environment installed, then deletes the namespaces it created. Releases
// and namespaces of other owners are left alone. It is for clusters that
// stay (kubeconfig); elsewhere deleting the cluster removes everything.
func (s *Installer) Down(ctx context.Context) error {
	all := Releases()
	slices.Reverse(all)
	var namespaces []string
	for _, rel := range all {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !slices.Contains(namespaces, rel.Namespace) {
			namespaces = append(namespaces, rel.Namespace)
		}
		getter := NewRESTGetter(s.cfg.Kubeconfig, s.cfg.Context, rel.Namespace, s.cfg.Log)
		cfg, err := s.actionConfig(getter, rel.Namespace)
		if err != nil {
			return err
		}
		last, err := cfg.Releases.Last(rel.Name)
		if errors.Is(err, driver.ErrReleaseNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("uninstall %s: read release: %w", rel.Name, err)
		}
		if owner := last.Labels[OwnerLabel]; owner != s.cfg.Env {
			s.cfg.Log.Info("leaving release installed by someone else", "release", rel.Name, "owner", owner)
			continue
		}
		un := action.NewUninstall(cfg)
		un.Timeout = s.timeout(rel)
		un.Wait = !s.cfg.Selection.Local
		un.DisableHooks = s.cfg.Selection.Local
		un.IgnoreNotFound = true
		if _, err := un.Run(rel.Name); err != nil {
			return &ReleaseError{Release: rel.Name, Chart: rel.Chart, Version: rel.Version, Namespace: rel.Namespace, Err: fmt.Errorf("uninstall: %w", err)}
		}
		fmt.Fprintf(s.cfg.Progress, "%s: uninstalled\n", rel.Name)
	}
	getter := NewRESTGetter(s.cfg.Kubeconfig, s.cfg.Context, "", s.cfg.Log)
	restCfg, err := getter.ToRESTConfig()
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return err
	}
	return deleteOwnedNamespaces(ctx, cs, namespaces, s.cfg.Env)
}
