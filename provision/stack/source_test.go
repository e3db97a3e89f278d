package stack

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/repo"
)

// makeRepo writes a Helm repository directory (archives + index.yaml with
// relative URLs and digests) holding tiny charts, built with Helm's own
// packaging and indexing code.
func makeRepo(t testing.TB, charts ...[2]string) string {
	t.Helper()
	dir := t.TempDir()
	for _, c := range charts {
		ch := &chart.Chart{
			Metadata: &chart.Metadata{APIVersion: chart.APIVersionV2, Name: c[0], Version: c[1]},
			Templates: []*chart.File{{Name: "templates/cm.yaml", Data: []byte(
				"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n")}},
		}
		if _, err := chartutil.Save(ch, dir); err != nil {
			t.Fatal(err)
		}
	}
	idx, err := repo.IndexDirectory(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := idx.WriteFile(filepath.Join(dir, "index.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// countingServer serves dir over HTTP on loopback and counts requests.
func countingServer(t *testing.T, dir string) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	fs := http.FileServer(http.Dir(dir))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		fs.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

var testRel = Release{Name: "demo", Chart: "demo", Version: "1.2.3", Repo: "https://charts.invalid/", Namespace: "default"}

func TestFetchMirrorDir(t *testing.T) {
	dir := makeRepo(t, [2]string{"demo", "1.2.3"}, [2]string{"demo", "1.0.0"}, [2]string{"other", "0.1.0"})
	for _, mirror := range []string{dir, "file://" + dir} {
		s := &Source{Mirror: mirror, CacheDir: t.TempDir()}
		got, err := s.Fetch(context.Background(), testRel)
		if err != nil {
			t.Fatalf("%s: %v", mirror, err)
		}
		if got.Origin != FromMirrorDir || got.Chart.Metadata.Version != "1.2.3" || got.Path != filepath.Join(dir, "demo-1.2.3.tgz") {
			t.Errorf("%s: got %s %s from %s (%s)", mirror, got.Chart.Name(), got.Chart.Metadata.Version, got.Path, got.Origin)
		}
		if entries, _ := os.ReadDir(s.CacheDir); len(entries) != 0 {
			t.Errorf("a mirror directory was copied into the cache: %v", entries)
		}
	}
}

func TestFetchMirrorDirErrors(t *testing.T) {
	dir := makeRepo(t, [2]string{"demo", "1.2.3"}, [2]string{"demo", "1.0.0"})
	tests := []struct {
		name    string
		setup   func(t *testing.T) string
		rel     Release
		wantErr []string
	}{
		{"wrong version", func(*testing.T) string { return dir },
			Release{Chart: "demo", Version: "9.9.9"}, []string{"demo version 9.9.9 is not in", "1.0.0, 1.2.3"}},
		{"unknown chart", func(*testing.T) string { return dir },
			Release{Chart: "nope", Version: "1.2.3"}, []string{"chart nope is not in"}},
		{"no index, no archive", func(t *testing.T) string { return t.TempDir() },
			Release{Chart: "demo", Version: "1.2.3"}, []string{"no index.yaml and no demo-1.2.3.tgz"}},
		{"digest mismatch", func(t *testing.T) string {
			d := makeRepo(t, [2]string{"demo", "1.2.3"})
			idx, _ := repo.LoadIndexFile(filepath.Join(d, "index.yaml"))
			idx.Entries["demo"][0].Digest = strings.Repeat("0", 64)
			idx.WriteFile(filepath.Join(d, "index.yaml"), 0o644)
			return d
		}, Release{Chart: "demo", Version: "1.2.3"}, []string{"digest"}},
		{"archive holds another version", func(t *testing.T) string {
			d := makeRepo(t, [2]string{"demo", "1.0.0"})
			os.Remove(filepath.Join(d, "index.yaml"))
			os.Rename(filepath.Join(d, "demo-1.0.0.tgz"), filepath.Join(d, "demo-1.2.3.tgz"))
			return d
		}, Release{Chart: "demo", Version: "1.2.3"}, []string{"holds demo 1.0.0, want demo 1.2.3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Source{Mirror: tt.setup(t), CacheDir: t.TempDir()}
			_, err := s.Fetch(context.Background(), tt.rel)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestFetchMirrorDirWithoutIndex(t *testing.T) {
	dir := makeRepo(t, [2]string{"demo", "1.2.3"})
	os.Remove(filepath.Join(dir, "index.yaml"))
	got, err := (&Source{Mirror: dir}).Fetch(context.Background(), testRel)
	if err != nil {
		t.Fatal(err)
	}
	if got.Origin != FromMirrorDir || got.Chart.Metadata.Version != "1.2.3" {
		t.Errorf("got %+v", got)
	}
}

// TestFetchHTTPCache downloads from a real HTTP Helm repository once, then
// serves the second fetch from the cache without a single request.
func TestFetchHTTPCache(t *testing.T) {
	dir := makeRepo(t, [2]string{"demo", "1.2.3"})
	srv, requests := countingServer(t, dir)
	cache := t.TempDir()

	for _, tc := range []struct {
		name   string
		mirror string
	}{{"release repository", ""}, {"mirror URL", srv.URL}} {
		t.Run(tc.name, func(t *testing.T) {
			rel := testRel
			if tc.mirror == "" {
				rel.Repo = srv.URL + "/"
			}
			cache := filepath.Join(cache, tc.name)
			requests.Store(0)
			got, err := (&Source{Mirror: tc.mirror, CacheDir: cache}).Fetch(context.Background(), rel)
			if err != nil {
				t.Fatal(err)
			}
			if got.Origin != FromDownload || got.Chart.Metadata.Version != "1.2.3" {
				t.Fatalf("first fetch: origin %s version %s", got.Origin, got.Chart.Metadata.Version)
			}
			if n := requests.Load(); n != 2 {
				t.Errorf("first fetch made %d requests, want 2 (index + archive)", n)
			}
			if !strings.HasPrefix(got.Path, cache) {
				t.Errorf("archive %s is not in the cache %s", got.Path, cache)
			}

			requests.Store(0)
			again, err := (&Source{Mirror: tc.mirror, CacheDir: cache}).Fetch(context.Background(), rel)
			if err != nil {
				t.Fatal(err)
			}
			if again.Origin != FromCache || requests.Load() != 0 {
				t.Errorf("second fetch: origin %s with %d requests, want cache with 0", again.Origin, requests.Load())
			}

			// A damaged cache entry is downloaded again.
			os.WriteFile(again.Path, []byte("not a chart"), 0o600)
			requests.Store(0)
			fixed, err := (&Source{Mirror: tc.mirror, CacheDir: cache}).Fetch(context.Background(), rel)
			if err != nil {
				t.Fatal(err)
			}
			if fixed.Origin != FromDownload || requests.Load() != 2 {
				t.Errorf("after damage: origin %s with %d requests", fixed.Origin, requests.Load())
			}
		})
	}
}

func TestFetchHTTPErrors(t *testing.T) {
	dir := makeRepo(t, [2]string{"demo", "1.2.3"})
	srv, _ := countingServer(t, dir)

	_, err := (&Source{Mirror: srv.URL, CacheDir: t.TempDir()}).Fetch(context.Background(), Release{Chart: "demo", Version: "0.0.1"})
	if err == nil || !strings.Contains(err.Error(), "demo version 0.0.1 is not in") || !strings.Contains(err.Error(), "1.2.3") {
		t.Errorf("wrong version: %v", err)
	}
	if err != nil && strings.Contains(err.Error(), "offline?") {
		t.Errorf("a mirror error should not suggest a mirror: %v", err)
	}

	// A repository that is not there, without a mirror: the error says how
	// to work offline.
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	_, err = (&Source{CacheDir: t.TempDir()}).Fetch(context.Background(), Release{Chart: "demo", Version: "1.2.3", Repo: gone.URL})
	if err == nil || !strings.Contains(err.Error(), "--chart-mirror") {
		t.Errorf("unreachable repository: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := (&Source{Mirror: srv.URL, CacheDir: t.TempDir()}).Fetch(ctx, testRel); err == nil {
		t.Error("cancelled context ignored")
	}
}

func TestCacheKeyAndRedact(t *testing.T) {
	if k := cacheKey("https://user:pw@helm.linkerd.io/edge"); k != "helm.linkerd.io_edge" {
		t.Errorf("cacheKey = %q", k)
	}
	if k := cacheKey("oci://ghcr.io/org/charts"); k != "ghcr.io_org_charts" {
		t.Errorf("cacheKey = %q", k)
	}
	if r := redactURL("https://user:secret@example.com/charts"); strings.Contains(r, "secret") {
		t.Errorf("redactURL kept the password: %s", r)
	}
}
