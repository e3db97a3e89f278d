package stack

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"helm.sh/helm/v3/pkg/registry"
)

// TestFetchOCI pushes a chart to a real OCI registry (go-containerregistry's
// in-memory registry on loopback) with Helm's registry client and fetches it
// back through the oci:// path, then from the cache.
func TestFetchOCI(t *testing.T) {
	var requests atomic.Int64
	reg := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")

	dir := makeRepo(t, [2]string{"demo", "1.2.3"})
	data, err := os.ReadFile(filepath.Join(dir, "demo-1.2.3.tgz"))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := registry.NewClient(registry.ClientOptPlainHTTP(), registry.ClientOptWriter(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rc.Push(data, host+"/charts/demo:1.2.3"); err != nil {
		t.Fatalf("push: %v", err)
	}

	rel := Release{Name: "demo", Chart: "demo", Version: "1.2.3", Repo: "oci://" + host + "/charts"}
	cache := t.TempDir()
	requests.Store(0)
	got, err := (&Source{CacheDir: cache, PlainHTTP: true}).Fetch(context.Background(), rel)
	if err != nil {
		t.Fatal(err)
	}
	if got.Origin != FromDownload || got.Chart.Metadata.Version != "1.2.3" || requests.Load() == 0 {
		t.Fatalf("first fetch: %s %s with %d requests", got.Origin, got.Chart.Metadata.Version, requests.Load())
	}
	requests.Store(0)
	again, err := (&Source{CacheDir: cache, PlainHTTP: true}).Fetch(context.Background(), rel)
	if err != nil {
		t.Fatal(err)
	}
	if again.Origin != FromCache || requests.Load() != 0 {
		t.Errorf("second fetch: %s with %d requests, want cache with 0", again.Origin, requests.Load())
	}

	rel.Version = "9.9.9"
	if _, err := (&Source{CacheDir: cache, PlainHTTP: true}).Fetch(context.Background(), rel); err == nil || !strings.Contains(err.Error(), "9.9.9") {
		t.Errorf("missing tag: %v", err)
	}
}
