package stack

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/chartutil"

	"github.com/dstload/dstload/certs"
	"github.com/dstload/dstload/values"
)

func TestEmbeddedValuesParse(t *testing.T) {
	files := values.StackFiles()
	if len(files) == 0 {
		t.Fatal("no embedded values files")
	}
	known := map[string]bool{}
	for _, n := range ReleaseNames() {
		known[n+".yaml"] = true
	}
	for _, f := range files {
		if !known[f] {
			t.Errorf("values/%s matches no declared release", f)
		}
		data, ok := values.StackValues(strings.TrimSuffix(f, ".yaml"))
		if !ok {
			t.Fatalf("StackValues(%s) not found", f)
		}
		if _, err := chartutil.ReadValues(data); err != nil {
			t.Errorf("values/%s: %v", f, err)
		}
	}
	if _, ok := values.StackValues("nope"); ok {
		t.Error("StackValues(nope) found something")
	}
}

func TestBuildValuesLayers(t *testing.T) {
	dir := t.TempDir()
	user1 := filepath.Join(dir, "1.yaml")
	user2 := filepath.Join(dir, "2.yaml")
	os.WriteFile(user1, []byte("a: {b: user1, c: user1}\nlist: [1]\nidentity: {issuer: {scheme: kubernetes.io/tls}}\n"), 0o600)
	os.WriteFile(user2, []byte("a: {c: user2}\n"), 0o600)

	got, err := BuildValues("r", ValueLayers{
		Embedded:  []byte("a: {b: embedded, d: embedded}\nlist: [1, 2]\nkeep: true\n"),
		UserFiles: []string{user1, user2},
		UserSet:   []string{"a.e=set,n=3", "identity.issuer.scheme=ignored"},
		Computed:  map[string]any{"identity": map[string]any{"issuer": map[string]any{"scheme": IssuerScheme}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	v := chartutil.Values(got)
	for path, want := range map[string]any{
		"a.b":                    "user1",
		"a.c":                    "user2",
		"a.d":                    "embedded",
		"a.e":                    "set",
		"n":                      int64(3),
		"keep":                   true,
		"identity.issuer.scheme": IssuerScheme,
	} {
		parent, key := "", path
		if i := strings.LastIndex(path, "."); i >= 0 {
			parent, key = path[:i], path[i+1:]
		}
		var table map[string]any = v
		if parent != "" {
			tb, err := v.Table(parent)
			if err != nil {
				t.Fatalf("%s: %v", parent, err)
			}
			table = tb
		}
		if table[key] != want {
			t.Errorf("%s = %v, want %v", path, table[key], want)
		}
	}
	if l, _ := got["list"].([]any); len(l) != 1 {
		t.Errorf("list = %v, want the user's [1] (lists replace, not merge)", got["list"])
	}

	if _, err := BuildValues("r", ValueLayers{UserFiles: []string{filepath.Join(dir, "missing.yaml")}}); err == nil {
		t.Error("missing user file accepted")
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("a: [\n"), 0o600)
	if _, err := BuildValues("r", ValueLayers{UserFiles: []string{bad}}); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("bad user file: %v, want an error naming it", err)
	}
}

func TestIdentityValues(t *testing.T) {
	tr, err := certs.NewTrustRoot(time.Hour, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	v, err := IdentityValues(tr)
	if err != nil {
		t.Fatal(err)
	}
	cv := chartutil.Values(v)
	if got, _ := cv["identityTrustAnchorsPEM"].(string); got != string(tr.Anchor.CertPEM()) {
		t.Error("identityTrustAnchorsPEM is not the anchor certificate")
	}
	tls, err := cv.Table("identity.issuer.tls")
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, _ := tr.Issuer.KeyPEM()
	if tls["crtPEM"] != string(tr.Issuer.CertPEM()) || tls["keyPEM"] != string(keyPEM) {
		t.Error("issuer crtPEM/keyPEM do not match the trust root")
	}
	issuer, _ := cv.Table("identity.issuer")
	if issuer["scheme"] != "linkerd.io/tls" {
		t.Errorf("scheme = %v", issuer["scheme"])
	}
	if _, err := IdentityValues(nil); err == nil {
		t.Error("nil trust root accepted")
	}
}

func TestSameValues(t *testing.T) {
	a := map[string]any{"n": 1, "m": map[string]any{"s": "x"}}
	// As Helm hands them back from storage: decoded JSON.
	b := map[string]any{"n": float64(1), "m": map[string]any{"s": "x"}}
	if !sameValues(a, b) {
		t.Error("equal values after a JSON round trip compare different")
	}
	if sameValues(a, map[string]any{"n": 2, "m": map[string]any{"s": "x"}}) {
		t.Error("different values compare equal")
	}
	if !sameValues(nil, map[string]any{}) {
		t.Error("nil and empty values compare different")
	}
}

func TestLinkerdNamespaceMeta(t *testing.T) {
	l, a := namespaceMeta("linkerd-control-plane", "linkerd")
	want := map[string]string{
		"linkerd.io/is-control-plane":          "true",
		"config.linkerd.io/admission-webhooks": "disabled",
		"linkerd.io/control-plane-ns":          "linkerd",
		"pod-security.kubernetes.io/enforce":   "privileged",
	}
	for k, v := range want {
		if l[k] != v {
			t.Errorf("label %s = %q, want %q", k, l[k], v)
		}
	}
	if a["linkerd.io/inject"] != "disabled" {
		t.Errorf("annotations = %v", a)
	}
	if l, _ := namespaceMeta("linkerd-crds", "linkerd"); l["linkerd.io/control-plane-ns"] != "linkerd" {
		t.Error("linkerd-crds, installed first, does not create the namespace as the control plane needs it")
	}
	if l, _ := namespaceMeta("linkerd-multicluster", "linkerd-multicluster"); l["linkerd.io/extension"] != "multicluster" {
		t.Errorf("multicluster labels = %v", l)
	}
	if l, a := namespaceMeta("kwok", "kube-system"); l != nil || a != nil {
		t.Error("kube-system would be relabelled")
	}
}

func TestParseSet(t *testing.T) {
	tests := []struct {
		flags []string
		want  map[string][]string
		err   string
	}{
		{[]string{"linkerd-control-plane.a.b=1", "linkerd-control-plane.c=x,d=y", "kwok.e=2"},
			map[string][]string{"linkerd-control-plane": {"a.b=1", "c=x,d=y"}, "kwok": {"e=2"}}, ""},
		{[]string{"linkerd-control-plane"}, nil, "use release.key=value"},
		{[]string{"linkerd-control-plane.a"}, nil, "use release.key=value"},
		{[]string{".a=1"}, nil, "use release.key=value"},
		{[]string{"linkerd-control-plane.a[x]=1"}, nil, "invalid --set"},
		{[]string{"nginx.a=1"}, nil, `--set for unknown release "nginx"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.flags, " "), func(t *testing.T) {
			got, err := ParseSet(tt.flags)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}
