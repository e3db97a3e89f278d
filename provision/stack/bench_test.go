package stack

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// BenchmarkFetch compares the three ways a chart arrives, in one run: a
// download from an HTTP repository on loopback (index + archive), the cache
// that a second `up` uses, and a mirror directory. It uses the real
// linkerd-control-plane chart when DSTLOAD_CHART_MIRROR is set.
func BenchmarkFetch(b *testing.B) {
	dir := ""
	if os.Getenv(MirrorEnv) != "" {
		dir = chartMirror(b)
	}
	rel := Release{Name: "linkerd-control-plane", Chart: "linkerd-control-plane", Version: LinkerdChartVersion}
	if dir == "" {
		dir = makeRepo(b, [2]string{"demo", "1.2.3"})
		rel = Release{Name: "demo", Chart: "demo", Version: "1.2.3"}
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	b.Cleanup(srv.Close)
	ctx := context.Background()

	b.Run("download", func(b *testing.B) {
		base := b.TempDir()
		for i := 0; b.Loop(); i++ {
			s := &Source{Mirror: srv.URL, CacheDir: filepath.Join(base, strconv.Itoa(i))}
			if f, err := s.Fetch(ctx, rel); err != nil || f.Origin != FromDownload {
				b.Fatal(err, f)
			}
		}
	})
	b.Run("cache", func(b *testing.B) {
		cache := b.TempDir()
		if _, err := (&Source{Mirror: srv.URL, CacheDir: cache}).Fetch(ctx, rel); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if f, err := (&Source{Mirror: srv.URL, CacheDir: cache}).Fetch(ctx, rel); err != nil || f.Origin != FromCache {
				b.Fatal(err, f)
			}
		}
	})
	b.Run("mirror-dir", func(b *testing.B) {
		for b.Loop() {
			if f, err := (&Source{Mirror: dir}).Fetch(ctx, rel); err != nil || f.Origin != FromMirrorDir {
				b.Fatal(err, f)
			}
		}
	})
}
