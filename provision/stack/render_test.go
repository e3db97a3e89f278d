package stack

import (
	"context"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chartutil"

	"github.com/dstload/dstload/certs"
)

// TestEmbeddedValuesRender renders every declared release's chart with the
// values dstload gives it (as `helm template` would, no cluster), so that a
// values file that breaks a chart fails here, including the charts only
// installed where pods run (kwok, stage-fast, kube-prometheus-stack,
// linkerd-multicluster).
func TestEmbeddedValuesRender(t *testing.T) {
	mirror := chartMirror(t)
	tr, err := certs.NewTrustRoot(time.Hour, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	src := &Source{Mirror: mirror, CacheDir: t.TempDir()}
	kube, err := chartutil.ParseKubeVersion("v1.36.3")
	if err != nil {
		t.Fatal(err)
	}
	for _, rel := range Releases() {
		t.Run(rel.Name, func(t *testing.T) {
			f, err := src.Fetch(context.Background(), rel)
			if err != nil {
				t.Fatal(err)
			}
			s := &Installer{cfg: Config{TrustRoot: tr, Selection: Selection{Monitoring: true}}}
			var computed map[string]any
			if rel.Name == "linkerd-control-plane" {
				if computed, err = s.computedValues(context.Background(), nil, rel); err != nil {
					t.Fatal(err)
				}
			}
			vals, err := BuildValues(rel.Name, ValueLayers{Embedded: embeddedValues(rel.Name), Computed: computed})
			if err != nil {
				t.Fatal(err)
			}
			in := action.NewInstall(&action.Configuration{})
			in.ClientOnly, in.DryRun, in.ReleaseName, in.Namespace = true, true, rel.Name, rel.Namespace
			in.KubeVersion = kube
			in.DisableHooks = true
			out, err := in.RunWithContext(context.Background(), f.Chart, vals)
			if err != nil {
				t.Fatalf("render %s %s: %v", rel.Chart, rel.Version, err)
			}
			if strings.TrimSpace(out.Manifest) == "" {
				t.Fatal("rendered nothing")
			}
			switch rel.Name {
			case "linkerd-control-plane":
				for _, want := range []string{"name: linkerd-identity-issuer", "name: linkerd-identity-trust-roots", "kind: PodMonitor"} {
					if !strings.Contains(out.Manifest, want) {
						t.Errorf("manifest lacks %q", want)
					}
				}
				if strings.Contains(out.Manifest, "linkerd-heartbeat") {
					t.Error("heartbeat CronJob rendered although values disable it")
				}
			case "linkerd-multicluster":
				if strings.Contains(out.Manifest, "name: linkerd-gateway") {
					t.Error("gateway rendered although values disable it")
				}
				// The check above can fail: with the gateway on, it is there.
				in := action.NewInstall(&action.Configuration{})
				in.ClientOnly, in.DryRun, in.ReleaseName, in.Namespace, in.KubeVersion, in.DisableHooks = true, true, rel.Name, rel.Namespace, kube, true
				on, err := in.RunWithContext(context.Background(), f.Chart, mergeMaps(vals, map[string]any{"gateway": map[string]any{"enabled": true}}))
				if err != nil || !strings.Contains(on.Manifest, "name: linkerd-gateway") {
					t.Errorf("gateway enabled: %v (manifest has no linkerd-gateway)", err)
				}
			}
		})
	}
}
