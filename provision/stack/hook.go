package stack

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/dstload/dstload/certs"
	"github.com/dstload/dstload/provision"
)

// Hook plugs the stack into provision.Lifecycle (it implements
// provision.StackHook): Up installs the stack on every cluster of the
// environment, Down uninstalls it where the cluster stays, Status lists the
// releases.
type Hook struct {
	// Monitoring adds kube-prometheus-stack (--monitoring) where pods run;
	// on the local provider the provider runs Prometheus itself.
	Monitoring bool
	// Multicluster adds linkerd-multicluster.
	Multicluster bool
	// Versions overrides chart versions by release name.
	Versions map[string]string
	// Mirror is the chart mirror (--chart-mirror / DSTLOAD_CHART_MIRROR).
	Mirror string
	// CacheDir holds downloaded charts; empty means DefaultCacheDir.
	CacheDir string
	// UserValues are the user's values files by release name (--values).
	UserValues map[string][]string
	// UserSet are the user's --set assignments by release name.
	UserSet map[string][]string
	// Timeout per release; 0 means each release's own default.
	Timeout time.Duration
	// CompareSettings is set by `up`: Status then also reports the stack as
	// out of date when these settings (monitoring, multicluster, chart
	// versions, values files and their contents) differ from what the last
	// Install applied, so that a second `up` with new settings applies them
	// instead of finding everything healthy and changing nothing.
	CompareSettings bool
}

var _ provision.StackHook = (*Hook)(nil)

// record is what the hook keeps in State.StackData, so that Status and Down
// (which get no flags) know what Up planned.
type record struct {
	Monitoring   bool              `json:"monitoring,omitempty"`
	Multicluster bool              `json:"multicluster,omitempty"`
	Versions     map[string]string `json:"versions,omitempty"`
	// ValuesDigest is a SHA-256 over the user's values files (names and
	// contents); the contents hold secrets at times, so only a digest.
	ValuesDigest string `json:"valuesDigest,omitempty"`
}

func (h *Hook) record(sel Selection) (record, error) {
	r := record{Monitoring: sel.Monitoring, Multicluster: sel.Multicluster, Versions: sel.Versions}
	if len(h.UserValues) == 0 && len(h.UserSet) == 0 {
		return r, nil
	}
	sum := sha256.New()
	for _, rel := range slices.Sorted(maps.Keys(h.UserSet)) {
		for _, s := range h.UserSet[rel] {
			fmt.Fprintf(sum, "set\x00%s\x00%s\x00", rel, s)
		}
	}
	for _, rel := range slices.Sorted(maps.Keys(h.UserValues)) {
		for _, f := range h.UserValues[rel] {
			data, err := os.ReadFile(f)
			if err != nil {
				return r, fmt.Errorf("values file for %s: %w", rel, err)
			}
			fmt.Fprintf(sum, "%s\x00%s\x00%d\x00", rel, f, len(data))
			sum.Write(data)
		}
	}
	r.ValuesDigest = hex.EncodeToString(sum.Sum(nil))
	return r, nil
}

func (r record) equal(o record) bool {
	return r.Monitoring == o.Monitoring && r.Multicluster == o.Multicluster &&
		maps.Equal(r.Versions, o.Versions) && r.ValuesDigest == o.ValuesDigest
}

// Validate checks the hook's settings against a provider (its name, for
// the messages, and what it stated) before anything is created, so that
// bad settings fail at once.
func (h *Hook) Validate(providerName string, caps provision.Capabilities) error {
	plan, err := Plan(h.selection(caps.PodsRun, nil))
	if err != nil {
		return err
	}
	if h.Timeout < 0 {
		return fmt.Errorf("stack timeout %s: must be positive", h.Timeout)
	}
	if err := checkNames(Releases(), h.UserValues, "values file"); err != nil {
		return err
	}
	if err := checkNames(Releases(), h.UserSet, "--set"); err != nil {
		return err
	}
	for rel := range h.UserSet {
		if !slices.ContainsFunc(plan, func(r Release) bool { return r.Name == rel }) {
			return fmt.Errorf("--set for %s, which provider %s does not install; drop it or pick another provider", rel, providerName)
		}
	}
	for rel, files := range h.UserValues {
		if !slices.ContainsFunc(plan, func(r Release) bool { return r.Name == rel }) {
			return fmt.Errorf("values file for %s, which provider %s does not install; drop it or pick another provider", rel, providerName)
		}
		for _, f := range files {
			if _, err := os.Stat(f); err != nil {
				return fmt.Errorf("values file for %s: %w", rel, err)
			}
		}
	}
	return nil
}

// selection is what to install where pods run or not (provision.Capabilities;
// Lifecycle records them in the state before it calls the hook).
func (h *Hook) selection(podsRun bool, rec *record) Selection {
	sel := Selection{Local: !podsRun, Monitoring: h.Monitoring, Multicluster: h.Multicluster, Versions: h.Versions}
	if rec != nil {
		sel.Monitoring, sel.Multicluster, sel.Versions = rec.Monitoring, rec.Multicluster, rec.Versions
	}
	return sel
}

// stacks builds one Installer per cluster of st; trs are their trust roots
// (nil for Status and Down, which need none).
func (h *Hook) stacks(env provision.Env, st *provision.State, sel Selection, trs []*certs.TrustRoot) ([]*Installer, error) {
	cache := h.CacheDir
	if cache == "" {
		var err error
		if cache, err = DefaultCacheDir(); err != nil {
			return nil, err
		}
	}
	var out []*Installer
	for i, c := range st.Clusters {
		var tr *certs.TrustRoot
		if i < len(trs) {
			tr = trs[i]
		}
		s, err := New(Config{
			Env: env.Name, Kubeconfig: c.Kubeconfig, Context: c.Context,
			Selection: sel, Mirror: h.Mirror, CacheDir: cache,
			TrustRoot: tr, UserValues: h.UserValues, UserSet: h.UserSet, Timeout: h.Timeout,
			Log: env.Log.With("cluster", c.Name), Progress: env.Progress,
		})
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// Install installs or upgrades the stack on every cluster.
func (h *Hook) Install(ctx context.Context, env provision.Env, st *provision.State, save provision.SaveFunc) error {
	sel := h.selection(podsRun(st), nil)
	if _, err := Plan(sel); err != nil {
		return err
	}
	trs, err := trustRoots(st)
	if err != nil {
		return err
	}
	// Recorded first: a Down after an interrupted Install must know the plan.
	rec, err := h.record(sel)
	if err != nil {
		return err
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	st.StackData = data
	if err := save(st); err != nil {
		return err
	}
	stacks, err := h.stacks(env, st, sel, trs)
	if err != nil {
		return err
	}
	for i, s := range stacks {
		start := time.Now()
		if _, err := s.Up(ctx); err != nil {
			return clusterErr(st, i, err)
		}
		env.Log.Debug("stack installed", "cluster", st.Clusters[i].Name, "duration", time.Since(start))
	}
	return nil
}

// Uninstall removes what Install put on every cluster.
func (h *Hook) Uninstall(ctx context.Context, env provision.Env, st *provision.State, save provision.SaveFunc) error {
	stacks, err := h.stacks(env, st, h.selection(podsRun(st), loadRecord(st)), nil)
	if err != nil {
		return err
	}
	for i, s := range stacks {
		if err := s.Down(ctx); err != nil {
			return clusterErr(st, i, err)
		}
	}
	st.StackData = nil
	return save(st)
}

// Status reports each planned release as a component: healthy when deployed.
func (h *Hook) Status(ctx context.Context, env provision.Env, st *provision.State) ([]provision.ComponentStatus, error) {
	stacks, err := h.stacks(env, st, h.selection(podsRun(st), loadRecord(st)), nil)
	if err != nil {
		return nil, err
	}
	var out []provision.ComponentStatus
	if rec := loadRecord(st); h.CompareSettings && rec != nil {
		want, err := h.record(h.selection(podsRun(st), nil))
		if err != nil {
			return nil, err
		}
		if !rec.equal(want) {
			out = append(out, provision.ComponentStatus{Name: "stack settings", Health: provision.Unhealthy,
				Detail: "monitoring, chart versions or values differ from the last up; up applies them"})
		}
	}
	for i, s := range stacks {
		rs, err := s.Status(ctx)
		if err != nil {
			// One unhealthy line, not an error: status must still show the
			// rest (e.g. which process died and took the API server along).
			out = append(out, provision.ComponentStatus{Cluster: st.Clusters[i].Name, Name: "releases",
				Health: provision.Unhealthy, Detail: "cannot read the Helm releases: " + oneLine(err.Error())})
			continue
		}
		for _, r := range rs {
			out = append(out, componentStatus(st.Clusters[i].Name, r))
		}
	}
	return out, nil
}

func componentStatus(cluster string, r ReleaseStatus) provision.ComponentStatus {
	c := provision.ComponentStatus{Cluster: cluster, Name: "release/" + r.Release}
	switch {
	case r.State == NotInstalled:
		c.Health, c.Detail = provision.Unhealthy, "not installed; run 'dstload up'"
		return c
	case r.State == "deployed":
		c.Health = provision.Healthy
	default:
		c.Health = provision.Unhealthy
	}
	c.Detail = fmt.Sprintf("%s %s in %s, revision %d, %s", r.Chart, r.Version, r.Namespace, r.Revision, r.State)
	if !r.Planned {
		c.Detail += " (not part of this environment's stack)"
	}
	return c
}

func loadRecord(st *provision.State) *record {
	if len(st.StackData) == 0 {
		return nil
	}
	var r record
	if err := json.Unmarshal(st.StackData, &r); err != nil {
		return nil
	}
	return &r
}

// trustRoots are the clusters' trust roots: one anchor for all, the
// environment's issuer for the first cluster and one of each further
// cluster's own (<trust root>/clusters/<name>/), as clusters installed
// separately and then linked have.
func trustRoots(st *provision.State) ([]*certs.TrustRoot, error) {
	first, err := certs.LoadTrustRoot(st.TrustRootDir, time.Now())
	if err != nil {
		return nil, fmt.Errorf("trust root: %w", err)
	}
	trs := []*certs.TrustRoot{first}
	for _, c := range st.Clusters[min(1, len(st.Clusters)):] {
		tr, _, err := certs.EnsureClusterIssuer(st.TrustRootDir, filepath.Join(st.TrustRootDir, "clusters", c.Name), certs.TrustRootOptions{})
		if err != nil {
			return nil, fmt.Errorf("cluster %s: identity issuer: %w", c.Name, err)
		}
		trs = append(trs, tr)
	}
	return trs, nil
}

func clusterErr(st *provision.State, i int, err error) error {
	if len(st.Clusters) < 2 {
		return err
	}
	return fmt.Errorf("cluster %s: %w", st.Clusters[i].Name, err)
}

// podsRun reads the capability the environment recorded; a state without
// one (written before they were recorded) came from a provider whose pods
// run, since Lifecycle fills it in for every other before the hook runs.
func podsRun(st *provision.State) bool {
	return st.Capabilities == nil || st.Capabilities.PodsRun
}
