package charts

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// TestLint is `helm lint charts/dst-load-test` (and --strict's severity),
// through the Helm SDK, for the default values and each part switched off.
func TestLint(t *testing.T) {
	for _, tc := range []struct {
		name    string
		values  map[string]any
		wantErr string // a lint error that must appear; "" = lint clean
	}{
		// Proves the linter runs (helm lint logs a template's `fail` as
		// INFO, so schema errors are what it can show).
		{"bad values are reported", map[string]any{"targets": map[string]any{"count": 0}}, "count"},
		{"defaults", nil, ""},
		{"static only", StaticOnly(), ""},
		{"monitoring podmonitor", map[string]any{"monitoring": map[string]any{"enabled": true}}, ""},
		{"monitoring servicemonitor", map[string]any{"monitoring": map[string]any{"enabled": true, "kind": "ServiceMonitor"}}, ""},
		{"exported, no rbac", map[string]any{"targets": map[string]any{"export": "remote-discovery"}, "rbac": map[string]any{"create": false}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kv, err := chartutil.ParseKubeVersion("v1.36.3")
			if err != nil {
				t.Fatal(err)
			}
			res := lint.AllWithKubeVersion(DstLoadTestName, tc.values, "dstload-test", kv)
			found := false
			for _, m := range res.Messages {
				switch {
				case tc.wantErr != "" && m.Severity == support.ErrorSev && strings.Contains(m.Err.Error(), tc.wantErr):
					found = true
				case m.Severity > support.InfoSev && tc.wantErr == "":
					t.Errorf("lint: %s", m)
				default:
					t.Logf("lint: %s", m)
				}
			}
			if tc.wantErr != "" && !found {
				t.Errorf("lint did not report %q: %v", tc.wantErr, res.Messages)
			}
		})
	}
}

// TestEmbeddedMatchesDirectory guards the go:embed pattern: the embedded
// chart must hold every file the directory loader sees (a dropped
// _helpers.tpl would only show at install time).
func TestEmbeddedMatchesDirectory(t *testing.T) {
	emb, err := DstLoadTest()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := loadDir(t)
	if err != nil {
		t.Fatal(err)
	}
	names := func(c *chart.Chart) []string {
		var n []string
		for _, f := range c.Templates {
			n = append(n, f.Name)
		}
		for _, f := range c.Raw {
			n = append(n, "raw:"+f.Name)
		}
		sort.Strings(n)
		return n
	}
	if got, want := strings.Join(names(emb), ","), strings.Join(names(dir), ","); got != want {
		t.Fatalf("embedded chart files\n  %s\ndiffer from the directory's\n  %s", got, want)
	}
	if emb.Schema == nil {
		t.Fatal("embedded chart has no values.schema.json")
	}
}

func TestSchemaRejectsBadValues(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values map[string]any
		want   string // part of the error
	}{
		{"unknown top-level key", map[string]any{"churnn": map[string]any{}}, "churnn"},
		{"unknown nested key", map[string]any{"client": map[string]any{"streams": 5}}, "streams"},
		{"zero targets", map[string]any{"targets": map[string]any{"count": 0}}, "count"},
		{"negative replicas", map[string]any{"targets": map[string]any{"replicas": -1}}, "replicas"},
		{"replicas as string", map[string]any{"targets": map[string]any{"replicas": "10"}}, "replicas"},
		{"bad name prefix", map[string]any{"targets": map[string]any{"namePrefix": "Target_"}}, "namePrefix"},
		{"bad export", map[string]any{"targets": map[string]any{"export": "yes"}}, "export"},
		{"bad pattern", map[string]any{"churn": map[string]any{"pattern": "sine"}}, "pattern"},
		{"bad duration", map[string]any{"churn": map[string]any{"holdMax": "two minutes"}}, "holdMax"},
		{"zero streams", map[string]any{"client": map[string]any{"streamsPerService": 0}}, "streamsPerService"},
		{"address without port", map[string]any{"client": map[string]any{"destinationAddr": "linkerd-dst"}}, "destinationAddr"},
		{"port out of range", map[string]any{"admin": map[string]any{"port": 70000}}, "port"},
		{"bad pull policy", map[string]any{"image": map[string]any{"pullPolicy": "Sometimes"}}, "pullPolicy"},
		{"bad monitor kind", map[string]any{"monitoring": map[string]any{"kind": "Probe"}}, "kind"},
		{"enabled not bool", map[string]any{"churn": map[string]any{"enabled": "false"}}, "enabled"},
		{"extra arg without dash", map[string]any{"client": map[string]any{"extraArgs": []any{"streams=5"}}}, "extraArgs"},
		{"bad lifetime", map[string]any{"client": map[string]any{"lifetime": "often"}}, "lifetime"},
		{"sample below -1", map[string]any{"client": map[string]any{"sampleStreams": -2}}, "sampleStreams"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := render(t, tc.values)
			if err == nil {
				t.Fatalf("values %v were accepted", tc.values)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not name %q", err, tc.want)
			}
		})
	}
}

func TestOscillateNeedsMinBelowMax(t *testing.T) {
	for _, mm := range [][2]int{{300, 200}, {5, 5}} {
		_, err := render(t, map[string]any{"churn": map[string]any{"min": mm[0], "max": mm[1]}})
		want := fmt.Sprintf("churn.min (%d) must be below churn.max (%d)", mm[0], mm[1])
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("min %d max %d: got %v, want %q", mm[0], mm[1], err, want)
		}
	}
	// stable only uses max.
	if _, err := render(t, map[string]any{"churn": map[string]any{"pattern": "stable", "min": 5, "max": 5}}); err != nil {
		t.Fatalf("stable with min == max: %v", err)
	}
}

func TestRenderedObjects(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values map[string]any
		want   map[string]int // kind -> count
	}{
		{"defaults", nil, map[string]int{"Service": 11, "Deployment": 12, "ServiceAccount": 2, "Role": 2, "RoleBinding": 2}},
		{"static only", StaticOnly(), map[string]int{"Service": 10, "Deployment": 10}},
		{"churn only, 3 targets", map[string]any{"client": map[string]any{"enabled": false}, "targets": map[string]any{"count": 3}},
			map[string]int{"Service": 4, "Deployment": 4, "ServiceAccount": 1, "Role": 1, "RoleBinding": 1}},
		{"nothing", map[string]any{"targets": map[string]any{"enabled": false}, "churn": map[string]any{"enabled": false}, "client": map[string]any{"enabled": false}}, map[string]int{}},
		{"podmonitors", map[string]any{"monitoring": map[string]any{"enabled": true}},
			map[string]int{"Service": 11, "Deployment": 12, "ServiceAccount": 2, "Role": 2, "RoleBinding": 2, "PodMonitor": 2, "ConfigMap": 1}},
		{"podmonitors, no dashboard", map[string]any{"monitoring": map[string]any{"enabled": true, "dashboard": false}},
			map[string]int{"Service": 11, "Deployment": 12, "ServiceAccount": 2, "Role": 2, "RoleBinding": 2, "PodMonitor": 2}},
		{"servicemonitors", map[string]any{"monitoring": map[string]any{"enabled": true, "kind": "ServiceMonitor"}},
			map[string]int{"Service": 12, "Deployment": 12, "ServiceAccount": 2, "Role": 2, "RoleBinding": 2, "ServiceMonitor": 2, "ConfigMap": 1}},
		{"no rbac", map[string]any{"rbac": map[string]any{"create": false}}, map[string]int{"Service": 11, "Deployment": 12}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs, err := render(t, tc.values)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]int{}
			for _, o := range objs {
				got[o.GetKind()]++
			}
			if len(got) != len(tc.want) {
				t.Errorf("kinds: got %v, want %v", got, tc.want)
			}
			for k, n := range tc.want {
				if got[k] != n {
					t.Errorf("%s: got %d, want %d (all: %v)", k, got[k], n, got)
				}
			}
		})
	}
}

func TestTargetsAndWorkloadPods(t *testing.T) {
	objs, err := render(t, map[string]any{
		"targets": map[string]any{"count": 2, "export": "remote-discovery"},
		"image":   map[string]any{"repository": "dstload.local/dstload", "tag": "v1-abc"},
	})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		byName[o.GetKind()+"/"+o.GetName()] = o
	}

	svc := byName["Service/target-001"]
	if svc == nil {
		t.Fatalf("no Service target-001 in %v", keys(byName))
	}
	if v := svc.GetLabels()["mirror.linkerd.io/exported"]; v != "remote-discovery" {
		t.Errorf("export label = %q", v)
	}
	dep := byName["Deployment/target-001"]
	ns, _, _ := unstructured.NestedStringMap(dep.Object, "spec", "template", "spec", "nodeSelector")
	if ns["type"] != "kwok" {
		t.Errorf("target nodeSelector = %v", ns)
	}
	tols, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "tolerations")
	if len(tols) != 1 || tols[0].(map[string]any)["key"] != "kwok.x-k8s.io/node" || tols[0].(map[string]any)["effect"] != "NoSchedule" {
		t.Errorf("target tolerations = %v", tols)
	}

	for _, name := range []string{"Deployment/rel-dst-load-test-churn", "Deployment/rel-dst-load-test-client"} {
		d := byName[name]
		if d == nil {
			t.Fatalf("no %s in %v", name, keys(byName))
		}
		cs, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
		c := cs[0].(map[string]any)
		if c["image"] != "dstload.local/dstload:v1-abc" {
			t.Errorf("%s image = %v", name, c["image"])
		}
		env := map[string]string{}
		for _, e := range c["env"].([]any) {
			e := e.(map[string]any)
			env[e["name"].(string)], _, _ = unstructured.NestedString(e, "valueFrom", "fieldRef", "fieldPath")
		}
		for k, want := range map[string]string{"POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace", "NODE_NAME": "spec.nodeName"} {
			if env[k] != want {
				t.Errorf("%s env %s from %q, want %q", name, k, env[k], want)
			}
		}
		args := c["args"].([]any)
		if !contains(args, "--selector=app.kubernetes.io/instance=rel,app.kubernetes.io/component=target") {
			t.Errorf("%s args %v lack the target selector", name, args)
		}
		if strings.HasSuffix(name, "client") && !contains(args, "--events-url=http://rel-dst-load-test-churn.dstload-test.svc:9102") {
			t.Errorf("client args %v lack churn's event feed", args)
		}
		sa, _, _ := unstructured.NestedString(d.Object, "spec", "template", "spec", "serviceAccountName")
		if byName["ServiceAccount/"+sa] == nil {
			t.Errorf("%s runs as %q, which the chart does not create", name, sa)
		}
	}

	// Least privilege, exactly the calls the code makes: churn lists
	// Deployments, patches their scale and watches EndpointSlices; the
	// client lists Services once.
	churnRules := rules(t, byName["Role/rel-dst-load-test-churn"])
	wantChurn := []string{
		"apps/deployments:list",
		"apps/deployments/scale:patch",
		"discovery.k8s.io/endpointslices:list,watch",
	}
	if strings.Join(churnRules, " ") != strings.Join(wantChurn, " ") {
		t.Errorf("churn rules %v, want %v", churnRules, wantChurn)
	}
	clientRules := rules(t, byName["Role/rel-dst-load-test-client"])
	if strings.Join(clientRules, " ") != "/services:list" {
		t.Errorf("client rules %v", clientRules)
	}
}

func rules(t *testing.T, role *unstructured.Unstructured) []string {
	t.Helper()
	if role == nil {
		t.Fatal("role missing")
	}
	rs, _, _ := unstructured.NestedSlice(role.Object, "rules")
	var out []string
	for _, r := range rs {
		r := r.(map[string]any)
		var verbs []string
		for _, v := range r["verbs"].([]any) {
			verbs = append(verbs, v.(string))
		}
		for _, g := range r["apiGroups"].([]any) {
			for _, res := range r["resources"].([]any) {
				out = append(out, g.(string)+"/"+res.(string)+":"+strings.Join(verbs, ","))
			}
		}
	}
	return out
}

func contains(list []any, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func keys(m map[string]*unstructured.Unstructured) []string {
	var k []string
	for n := range m {
		k = append(k, n)
	}
	sort.Strings(k)
	return k
}

// render runs what `helm template` does (schema validation included) with
// release name "rel" and returns the objects.
func render(t *testing.T, values map[string]any) ([]*unstructured.Unstructured, error) {
	t.Helper()
	c, err := DstLoadTest()
	if err != nil {
		t.Fatal(err)
	}
	kv, err := chartutil.ParseKubeVersion("v1.36.3")
	if err != nil {
		t.Fatal(err)
	}
	caps := chartutil.DefaultCapabilities.Copy()
	caps.KubeVersion = *kv
	if values == nil {
		values = map[string]any{}
	}
	vals, err := chartutil.ToRenderValues(c, values, chartutil.ReleaseOptions{Name: "rel", Namespace: "dstload-test", IsInstall: true}, caps)
	if err != nil {
		return nil, err
	}
	out, err := engine.Render(c, vals)
	if err != nil {
		return nil, err
	}
	return decode(out)
}

func decode(files map[string]string) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if !strings.HasSuffix(n, ".yaml") {
			continue
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader([]byte(files[n])), 4096)
		for {
			var m map[string]any
			if err := dec.Decode(&m); err == io.EOF {
				break
			} else if err != nil {
				return nil, err
			}
			if len(m) == 0 {
				continue
			}
			objs = append(objs, &unstructured.Unstructured{Object: m})
		}
	}
	return objs, nil
}
