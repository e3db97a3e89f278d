package stack

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/release"

	"github.com/dstload/dstload/certs"
	"github.com/dstload/dstload/provision"
	"github.com/dstload/dstload/provision/local/localtest"
)

// chartMirror returns the mirror directory from DSTLOAD_CHART_MIRROR, or ""
// when it is not set: then the public repositories are used, and a test
// outside CI is skipped when they cannot be reached (CI must set the mirror).
func chartMirror(t testing.TB) string {
	dir := os.Getenv(MirrorEnv)
	if dir == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set; CI must point it at the chart mirror (../shared/charts)", MirrorEnv)
		}
		rel := Releases()[0]
		if _, err := (&Source{CacheDir: t.TempDir()}).Fetch(context.Background(), rel); err != nil {
			t.Skipf("%s not set and the public chart repositories are unreachable: %v", MirrorEnv, err)
		}
		t.Logf("%s not set: using the public chart repositories", MirrorEnv)
		return ""
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(abs, "index.yaml")); err != nil && !filepath.IsAbs(dir) {
		// go test runs in the package directory; a relative mirror such as
		// ../shared/charts is meant from the repository root.
		if root := moduleRoot(t); root != "" {
			abs = filepath.Join(root, dir)
		}
	}
	if _, err := os.Stat(filepath.Join(abs, "index.yaml")); err != nil {
		t.Fatalf("%s=%s is not a Helm repository directory: %v", MirrorEnv, dir, err)
	}
	return abs
}

// moduleRoot is the nearest parent directory holding go.mod.
func moduleRoot(t testing.TB) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// TestStackOnLocalCluster installs the Linkerd stack on a real local cluster
// (etcd, kube-apiserver 1.36.3, controller-manager, scheduler, kwok) from the
// chart mirror served over HTTP on loopback, exactly where `dstload up` does.
func TestStackOnLocalCluster(t *testing.T) {
	mirrorDir := chartMirror(t)
	var requests atomic.Int64
	mirror := ""
	if mirrorDir != "" {
		fs := http.FileServer(http.Dir(mirrorDir))
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			requests.Add(1)
			fs.ServeHTTP(w, r)
		}))
		t.Cleanup(srv.Close)
		mirror = srv.URL
	}
	cache := t.TempDir()
	hook := &Hook{Mirror: mirror, CacheDir: cache, Timeout: 2 * time.Minute}

	// Everything logged at debug level, Helm's chatter included, is kept to
	// check at the end that the issuer key never shows up.
	logs := &lockedBuffer{}
	var logOut io.Writer = logs
	if testing.Verbose() {
		logOut = io.MultiWriter(logs, os.Stderr)
	}
	log := slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: slog.LevelDebug}))

	start := time.Now()
	c := localtest.Start(t, localtest.Options{Nodes: 1, Stack: hook, Log: log})
	t.Logf("cluster + stack up in %s", time.Since(start).Round(time.Millisecond))
	if mirror != "" && requests.Load() == 0 {
		t.Fatal("the first install made no request to the chart repository")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cs := c.Clientset
	ext, err := apiextclient.NewForConfig(c.RESTConfig)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := certs.LoadTrustRoot(c.TrustRootDir, time.Now())
	if err != nil {
		t.Fatal(err)
	}

	t.Cleanup(func() {
		keyPEM, _ := tr.Issuer.KeyPEM()
		block, _ := pem.Decode(keyPEM)
		body := base64.StdEncoding.EncodeToString(block.Bytes)
		if strings.Contains(logs.String(), body[:40]) || strings.Contains(logs.String(), "PRIVATE KEY") {
			t.Error("the issuer private key appears in the logs")
		}
		if !strings.Contains(logs.String(), "component=helm") {
			t.Error("no Helm debug output was captured, so the key check above proves nothing")
		}
	})

	revisions := func(t *testing.T) map[string]int {
		t.Helper()
		comps, err := hook.Status(ctx, c.Env, c.State)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int{}
		s, _ := New(Config{Env: c.Env.Name, Kubeconfig: c.Kubeconfig, Context: c.Context, Selection: Selection{Local: true}})
		rs, err := s.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			out[r.Release] = r.Revision
			if r.State != "deployed" || r.Owner != c.Env.Name {
				t.Errorf("%s: state %q owner %q", r.Release, r.State, r.Owner)
			}
		}
		for _, comp := range comps {
			if comp.Health != provision.Healthy {
				t.Errorf("component %s: %s (%s)", comp.Name, comp.Health, comp.Detail)
			}
		}
		return out
	}

	t.Run("installed", func(t *testing.T) {
		revs := revisions(t)
		if len(revs) != 2 || revs["linkerd-crds"] != 1 || revs["linkerd-control-plane"] != 1 {
			t.Errorf("releases %v, want linkerd-crds and linkerd-control-plane at revision 1", revs)
		}
		// KWOK is a host process on local: its charts are not installed.
		if _, ok := revs["kwok"]; ok {
			t.Error("kwok chart installed on the local provider")
		}
	})

	t.Run("CRDs established", func(t *testing.T) {
		for _, name := range []string{
			"serviceprofiles.linkerd.io", "servers.policy.linkerd.io", "httproutes.policy.linkerd.io",
			"externalworkloads.workload.linkerd.io", "httproutes.gateway.networking.k8s.io",
			"grpcroutes.gateway.networking.k8s.io",
		} {
			crd, err := ext.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				t.Errorf("CRD %s: %v", name, err)
				continue
			}
			established := false
			for _, cond := range crd.Status.Conditions {
				established = established || (cond.Type == apiextv1.Established && cond.Status == apiextv1.ConditionTrue)
			}
			if !established {
				t.Errorf("CRD %s is not Established: %+v", name, crd.Status.Conditions)
			}
		}
	})

	t.Run("identity from the trust root", func(t *testing.T) {
		cm, err := cs.CoreV1().ConfigMaps(LinkerdNamespace).Get(ctx, "linkerd-identity-trust-roots", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !samePEM(cm.Data["ca-bundle.crt"], tr.Anchor.CertPEM()) {
			t.Errorf("ca-bundle.crt is not exactly our anchor:\n%s", cm.Data["ca-bundle.crt"])
		}
		sec, err := cs.CoreV1().Secrets(LinkerdNamespace).Get(ctx, "linkerd-identity-issuer", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		keyPEM, _ := tr.Issuer.KeyPEM()
		if !samePEM(string(sec.Data["crt.pem"]), tr.Issuer.CertPEM()) {
			t.Error("linkerd-identity-issuer crt.pem is not our issuer")
		}
		if !samePEM(string(sec.Data["key.pem"]), keyPEM) {
			t.Error("linkerd-identity-issuer key.pem is not our issuer key")
		}
	})

	t.Run("namespace as the linkerd CLI makes it", func(t *testing.T) {
		ns, err := cs.CoreV1().Namespaces().Get(ctx, LinkerdNamespace, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		labels, annotations := namespaceMeta("linkerd-control-plane", LinkerdNamespace)
		for k, v := range labels {
			if ns.Labels[k] != v {
				t.Errorf("label %s = %q, want %q", k, ns.Labels[k], v)
			}
		}
		for k, v := range annotations {
			if ns.Annotations[k] != v {
				t.Errorf("annotation %s = %q, want %q", k, ns.Annotations[k], v)
			}
		}
		if ns.Labels[OwnerLabel] != c.Env.Name {
			t.Errorf("namespace not marked as created by %s: %v", c.Env.Name, ns.Labels)
		}
	})

	save := func(st *provision.State) error { return provision.SaveState(c.Env.Dir, st) }
	newStack := func(t *testing.T, mirror string, versions map[string]string, userValues map[string][]string) *Installer {
		t.Helper()
		s, err := New(Config{
			Env: c.Env.Name, Kubeconfig: c.Kubeconfig, Context: c.Context,
			Selection: Selection{Local: true, Versions: versions},
			Mirror:    mirror, CacheDir: cache, TrustRoot: tr, UserValues: userValues,
			Timeout: 2 * time.Minute, Log: c.Env.Log,
		})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	t.Run("second run keeps revisions and uses the cache", func(t *testing.T) {
		before := revisions(t)
		requests.Store(0)
		start := time.Now()
		// Through the hook, as a second `dstload up` runs it.
		if err := (&Hook{Mirror: mirror, CacheDir: cache}).Install(ctx, c.Env, c.State, save); err != nil {
			t.Fatal(err)
		}
		t.Logf("second install (nothing to do) took %s", time.Since(start).Round(time.Millisecond))
		if n := requests.Load(); n != 0 {
			t.Errorf("second run made %d requests to the chart repository, want 0 (cache)", n)
		}
		res, err := newStack(t, mirror, nil, nil).Up(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Action != Unchanged || r.Origin != FromCache {
				t.Errorf("%s: %s from %s, want unchanged from cache", r.Release, r.Action, r.Origin)
			}
		}
		if after := revisions(t); !equalRevs(before, after) {
			t.Errorf("revisions changed: %v -> %v", before, after)
		}
	})

	t.Run("wrong chart version fails clearly", func(t *testing.T) {
		before := revisions(t)
		_, err := newStack(t, mirror, map[string]string{"linkerd-control-plane": "2026.8.99"}, nil).Up(ctx)
		var re *ReleaseError
		if !errors.As(err, &re) || re.Release != "linkerd-control-plane" {
			t.Fatalf("err = %v, want a ReleaseError for linkerd-control-plane", err)
		}
		msg := err.Error()
		if strings.Contains(msg, "\n") || !strings.Contains(msg, "2026.8.99") || !strings.Contains(msg, "2026.8.3") {
			t.Errorf("error is not one line naming the wanted and available versions: %q", msg)
		}
		t.Logf("error: %s", msg)
		if after := revisions(t); !equalRevs(before, after) {
			t.Errorf("a failed fetch changed revisions: %v -> %v", before, after)
		}
	})

	t.Run("changed values upgrade without waiting", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "cp.yaml")
		os.WriteFile(f, []byte("controllerLogLevel: debug\n"), 0o600)
		start := time.Now()
		res, err := newStack(t, mirror, nil, map[string][]string{"linkerd-control-plane": {f}}).Up(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("upgrade took %s", time.Since(start).Round(time.Millisecond))
		want := map[string]Action{"linkerd-crds": Unchanged, "linkerd-control-plane": Upgraded}
		for _, r := range res {
			if r.Action != want[r.Release] {
				t.Errorf("%s: %s, want %s", r.Release, r.Action, want[r.Release])
			}
		}
		if revs := revisions(t); revs["linkerd-control-plane"] != 2 || revs["linkerd-crds"] != 1 {
			t.Errorf("revisions %v, want control plane 2, crds 1", revs)
		}
	})

	stateOf := func(t *testing.T, name string) string {
		t.Helper()
		rs, err := newStack(t, mirror, nil, nil).Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			if r.Release == name {
				return r.State
			}
		}
		return ""
	}

	t.Run("failed upgrade names the release and up can be re-run", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "bad.yaml")
		os.WriteFile(f, []byte("controllerReplicas: -1\n"), 0o600)
		_, err := newStack(t, mirror, nil, map[string][]string{"linkerd-control-plane": {f}}).Up(ctx)
		var re *ReleaseError
		if !errors.As(err, &re) || re.Release != "linkerd-control-plane" {
			t.Fatalf("err = %v, want a ReleaseError for linkerd-control-plane", err)
		}
		if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, "replicas") {
			t.Errorf("error is not one line saying why: %q", msg)
		}
		t.Logf("error: %s", err)
		if st := stateOf(t, "linkerd-control-plane"); st != "failed" {
			t.Errorf("after the failure the release is %q, want failed", st)
		}
		res, err := newStack(t, mirror, nil, nil).Up(ctx)
		if err != nil {
			t.Fatalf("re-run after a failure: %v", err)
		}
		if res[1].Action != Upgraded {
			t.Errorf("re-run: %s, want upgraded", res[1].Action)
		}
		if st := stateOf(t, "linkerd-control-plane"); st != "deployed" {
			t.Errorf("after the re-run the release is %q", st)
		}
	})

	t.Run("a release left pending by an interruption is recovered", func(t *testing.T) {
		cfg := new(action.Configuration)
		if err := cfg.Init(NewRESTGetter(c.Kubeconfig, c.Context, LinkerdNamespace, nil), LinkerdNamespace, "secret", func(string, ...any) {}); err != nil {
			t.Fatal(err)
		}
		last, err := cfg.Releases.Last("linkerd-control-plane")
		if err != nil {
			t.Fatal(err)
		}
		last.SetStatus(release.StatusPendingUpgrade, "as a Ctrl-C during an upgrade leaves it")
		if err := cfg.Releases.Update(last); err != nil {
			t.Fatal(err)
		}
		res, err := newStack(t, mirror, nil, nil).Up(ctx)
		if err != nil {
			t.Fatalf("up over a pending release: %v", err)
		}
		if res[1].Action != Upgraded || res[1].Revision != last.Version+1 {
			t.Errorf("got %s revision %d, want upgraded to %d", res[1].Action, res[1].Revision, last.Version+1)
		}
		if st := stateOf(t, "linkerd-control-plane"); st != "deployed" {
			t.Errorf("after recovery the release is %q", st)
		}
	})

	t.Run("linkerd-multicluster installs without hooks", func(t *testing.T) {
		s, err := New(Config{
			Env: c.Env.Name, Kubeconfig: c.Kubeconfig, Context: c.Context,
			Selection: Selection{Local: true, Multicluster: true},
			Mirror:    mirror, CacheDir: cache, TrustRoot: tr, Timeout: 2 * time.Minute, Log: c.Env.Log,
		})
		if err != nil {
			t.Fatal(err)
		}
		res, err := s.Up(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if last := res[len(res)-1]; last.Release != "linkerd-multicluster" || last.Action != Installed {
			t.Errorf("got %+v", last)
		}
		ns, err := cs.CoreV1().Namespaces().Get(ctx, "linkerd-multicluster", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if ns.Labels["linkerd.io/extension"] != "multicluster" {
			t.Errorf("namespace labels %v", ns.Labels)
		}
	})

	t.Run("down, then install from a plain mirror directory", func(t *testing.T) {
		if mirrorDir == "" {
			t.Skipf("%s not set: no mirror directory to install from", MirrorEnv)
		}
		if err := newStack(t, "", nil, nil).Down(ctx); err != nil {
			t.Fatal(err)
		}
		s := newStack(t, "", nil, nil)
		rs, err := s.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			if r.State != NotInstalled {
				t.Errorf("after down %s is %s", r.Release, r.State)
			}
		}
		// Down deleted the namespace it created; wait until it is gone.
		for _, ns := range []string{LinkerdNamespace, "linkerd-multicluster"} {
			err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
				_, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
				return apierrors.IsNotFound(err), nil
			})
			if err != nil {
				t.Fatalf("namespace %s still there after down: %v", ns, err)
			}
		}
		if _, err := cs.CoreV1().Namespaces().Get(ctx, "kube-system", metav1.GetOptions{}); err != nil {
			t.Errorf("down touched kube-system: %v", err)
		}

		requests.Store(0)
		start := time.Now()
		res, err := newStack(t, mirrorDir, nil, nil).Up(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("install from mirror directory took %s", time.Since(start).Round(time.Millisecond))
		for _, r := range res {
			if r.Action != Installed || r.Origin != FromMirrorDir || r.Revision != 1 {
				t.Errorf("%s: %s from %s revision %d, want installed from mirror-dir revision 1", r.Release, r.Action, r.Origin, r.Revision)
			}
		}
		if n := requests.Load(); n != 0 {
			t.Errorf("a directory mirror made %d HTTP requests", n)
		}
		cm, err := cs.CoreV1().ConfigMaps(LinkerdNamespace).Get(ctx, "linkerd-identity-trust-roots", metav1.GetOptions{})
		if err != nil || !samePEM(cm.Data["ca-bundle.crt"], tr.Anchor.CertPEM()) {
			t.Errorf("trust roots after reinstall: %v", err)
		}
	})
}

// samePEM reports whether got holds exactly the PEM blocks of want (the
// chart trims the trailing newline, nothing else may differ).
func samePEM(got string, want []byte) bool {
	blocks := func(data []byte) (out []*pem.Block) {
		for {
			var b *pem.Block
			b, data = pem.Decode(data)
			if b == nil {
				return out
			}
			out = append(out, b)
		}
	}
	g, w := blocks([]byte(got)), blocks(want)
	if len(g) != len(w) || len(w) == 0 || strings.TrimSpace(got) != strings.TrimSpace(string(want)) {
		return false
	}
	for i := range w {
		if g[i].Type != w[i].Type || !bytes.Equal(g[i].Bytes, w[i].Bytes) {
			return false
		}
	}
	return true
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func equalRevs(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
