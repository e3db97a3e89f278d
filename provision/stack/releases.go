// Package stack installs, reports and removes the Helm releases dstload puts
// on a cluster (Linkerd, KWOK, monitoring) through the Helm Go SDK: charts
// come from their public repositories through Helm's own downloader (HTTP
// and OCI) into a local cache, or from a chart mirror; values come from the
// embedded files in values/, the user's files and the trust root.
package stack

import (
	"fmt"
	"helm.sh/helm/v3/pkg/strvals"
	"slices"
	"strings"
	"time"
)

// Group decides when a release is part of the stack.
type Group string

const (
	// GroupLinkerd is always installed.
	GroupLinkerd Group = "linkerd"
	// GroupKWOK simulates nodes in clusters whose pods really run. The local
	// provider runs KWOK as a host process instead.
	GroupKWOK Group = "kwok"
	// GroupMonitoring is opt-in (--monitoring).
	GroupMonitoring Group = "monitoring"
	// GroupMulticluster is installed when clusters are linked.
	GroupMulticluster Group = "multicluster"
)

// Release is one Helm release of the stack with its pinned chart.
type Release struct {
	// Name is the Helm release name.
	Name string
	// Chart is the chart name in its repository.
	Chart string
	// Version is the exact chart version.
	Version string
	// Repo is the chart repository: an http(s) Helm repository or an oci://
	// registry path (the chart name is appended).
	Repo string
	// Namespace the release is installed into.
	Namespace string
	Group     Group
	// NeedsCRDs are CRDs that must be Established before the release is
	// installed: the Stage CRD of stage-fast is created by the running kwok
	// controller, not by a chart.
	NeedsCRDs []string
	// Timeout is the release's own install timeout when the user sets none
	// (0 = DefaultTimeout).
	Timeout time.Duration
}

// Chart versions, pinned. The Linkerd charts share one version: the control
// plane refuses CRDs from another release.
const (
	LinkerdChartVersion    = "2026.8.3"
	KWOKChartVersion       = "0.2.0"
	MonitoringChartVersion = "88.5.3"

	linkerdRepo    = "https://helm.linkerd.io/edge"
	kwokRepo       = "https://kwok.sigs.k8s.io/charts/"
	prometheusRepo = "https://prometheus-community.github.io/helm-charts"

	// LinkerdNamespace holds linkerd-crds and linkerd-control-plane: the
	// control-plane chart README requires both in the same namespace.
	LinkerdNamespace = "linkerd"
)

// Releases declares every release dstload knows, in install order. It
// returns a new slice on every call so callers may change their copy.
func Releases() []Release {
	return []Release{
		{Name: "linkerd-crds", Chart: "linkerd-crds", Version: LinkerdChartVersion, Repo: linkerdRepo, Namespace: LinkerdNamespace, Group: GroupLinkerd},
		// Before the control plane, so that its PodMonitor kind exists when
		// monitoring is on.
		// Many images and admission-webhook hook Jobs: give it longer.
		{Name: "kube-prometheus-stack", Chart: "kube-prometheus-stack", Version: MonitoringChartVersion, Repo: prometheusRepo, Namespace: "monitoring", Group: GroupMonitoring,
			Timeout: 10 * time.Minute},
		{Name: "linkerd-control-plane", Chart: "linkerd-control-plane", Version: LinkerdChartVersion, Repo: linkerdRepo, Namespace: LinkerdNamespace, Group: GroupLinkerd},
		{Name: "kwok", Chart: "kwok", Version: KWOKChartVersion, Repo: kwokRepo, Namespace: "kube-system", Group: GroupKWOK},
		{Name: "stage-fast", Chart: "stage-fast", Version: KWOKChartVersion, Repo: kwokRepo, Namespace: "kube-system", Group: GroupKWOK,
			NeedsCRDs: []string{"stages.kwok.x-k8s.io"}},
		{Name: "linkerd-multicluster", Chart: "linkerd-multicluster", Version: LinkerdChartVersion, Repo: linkerdRepo, Namespace: "linkerd-multicluster", Group: GroupMulticluster},
	}
}

// Selection says which groups an environment gets.
type Selection struct {
	// Local is the provider whose pods never run (no kubelet): KWOK is a host
	// process there and nothing may wait on pods or hooks.
	Local        bool
	Monitoring   bool
	Multicluster bool
	// Versions overrides chart versions by release name.
	Versions map[string]string
}

// Plan returns the releases of sel in install order, with version overrides
// applied.
func Plan(sel Selection) ([]Release, error) {
	all := Releases()
	if err := checkNames(all, sel.Versions, "chart version override"); err != nil {
		return nil, err
	}
	var out []Release
	for _, r := range all {
		switch r.Group {
		case GroupKWOK:
			if sel.Local {
				continue
			}
		case GroupMonitoring:
			// On local no pod runs: monitoring is the provider's own
			// Prometheus process there, not a release.
			if !sel.Monitoring || sel.Local {
				continue
			}
		case GroupMulticluster:
			if !sel.Multicluster {
				continue
			}
		}
		if v, ok := sel.Versions[r.Name]; ok {
			r.Version = v
		}
		out = append(out, r)
	}
	return out, nil
}

// ReleaseNames lists every declared release name.
func ReleaseNames() []string {
	var names []string
	for _, r := range Releases() {
		names = append(names, r.Name)
	}
	return names
}

func checkNames[V any](all []Release, m map[string]V, what string) error {
	for name := range m {
		if !slices.ContainsFunc(all, func(r Release) bool { return r.Name == name }) {
			return fmt.Errorf("%s for unknown release %q: use one of %s", what, name, strings.Join(ReleaseNames(), ", "))
		}
	}
	return nil
}

// ParseVersions parses repeated "release=version" flags.
func ParseVersions(flags []string) (map[string]string, error) {
	out := map[string]string{}
	for _, f := range flags {
		name, version, ok := strings.Cut(f, "=")
		name, version = strings.TrimSpace(name), strings.TrimSpace(version)
		if !ok || name == "" || version == "" {
			return nil, fmt.Errorf("invalid chart version %q: use release=version, e.g. linkerd-control-plane=%s", f, LinkerdChartVersion)
		}
		out[name] = version
	}
	if err := checkNames(Releases(), out, "chart version"); err != nil {
		return nil, err
	}
	return out, nil
}

// ParseSet parses repeated "release.key=value" flags (--set) into Helm
// --set assignments per release: "linkerd-control-plane.a.b=1" is
// "a.b=1" for linkerd-control-plane. Release names hold no dots, so the
// first dot ends the name.
func ParseSet(flags []string) (map[string][]string, error) {
	out := map[string][]string{}
	for _, f := range flags {
		name, set, ok := strings.Cut(f, ".")
		name = strings.TrimSpace(name)
		if !ok || name == "" || !strings.Contains(set, "=") || strings.HasPrefix(set, "=") {
			return nil, fmt.Errorf("invalid --set %q: use release.key=value, e.g. linkerd-control-plane.destinationController.podAnnotations.a=b", f)
		}
		// Helm's parser finds the syntax errors now, not at install.
		if err := strvals.ParseInto(set, map[string]any{}); err != nil {
			return nil, fmt.Errorf("invalid --set %q: %w", f, err)
		}
		out[name] = append(out[name], set)
	}
	if err := checkNames(Releases(), out, "--set"); err != nil {
		return nil, err
	}
	return out, nil
}

// ParseValueFiles parses repeated "release=file" flags into the files to
// apply to each release, in the order given.
func ParseValueFiles(flags []string) (map[string][]string, error) {
	out := map[string][]string{}
	for _, f := range flags {
		name, file, ok := strings.Cut(f, "=")
		name, file = strings.TrimSpace(name), strings.TrimSpace(file)
		if !ok || name == "" || file == "" {
			return nil, fmt.Errorf("invalid values flag %q: use release=file.yaml, e.g. linkerd-control-plane=my-values.yaml", f)
		}
		out[name] = append(out[name], file)
	}
	if err := checkNames(Releases(), out, "values file"); err != nil {
		return nil, err
	}
	return out, nil
}
