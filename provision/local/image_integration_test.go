package local_test

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/dstload/dstload/internal/testutil"
	"github.com/dstload/dstload/provision"
	"github.com/dstload/dstload/provision/local"
	"github.com/dstload/dstload/provision/local/localtest"
)

// TestDestinationFromImage is the default path of `up --provider local`:
// the controller binary comes out of an image (here the stand-in, pushed to
// an in-memory registry on 127.0.0.1), is cached and supervised. With the
// registry unreachable, up still succeeds and records no destination.
func TestDestinationFromImage(t *testing.T) {
	localtest.RequireBinaries(t)
	standin := buildStandin(t)
	data, err := os.ReadFile(standin)
	if err != nil {
		t.Fatal(err)
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return tarOf(t, "controller", data), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	ref := strings.TrimPrefix(srv.URL, "http://") + "/linkerd/controller:edge-26.8.3"
	r, _ := name.ParseReference(ref)
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
	imageCache := t.TempDir()

	t.Run("pulled", func(t *testing.T) {
		e, st := up(t, local.Options{Nodes: 1, DestinationImage: ref, ImageCacheDir: imageCache})
		c := st.Cluster("")
		proc := st.Process("", local.Destination)
		if c.DestinationSource != "process" || proc == nil || !strings.HasPrefix(proc.Cmdline[0], imageCache) {
			t.Fatalf("destination not run from the unpacked image: cluster %+v process %+v", c, proc)
		}
		rep, err := e.Status(context.Background())
		if err != nil || !rep.Healthy {
			t.Fatalf("status: %v %+v", err, rep)
		}
	})
	t.Run("offline", func(t *testing.T) {
		unreachable := "127.0.0.1:1/linkerd/controller:edge-26.8.3"
		e, st := up(t, local.Options{Nodes: 1, DestinationImage: unreachable, ImageCacheDir: t.TempDir()})
		if c := st.Cluster(""); c.DestinationAddr != "" || st.Process("", local.Destination) != nil {
			t.Fatalf("offline up recorded a destination: %+v", c)
		}
		rep, err := e.Status(context.Background())
		if err != nil || !rep.Healthy {
			t.Fatalf("status: %v %+v", err, rep)
		}
		if got := component(rep, local.Destination); got.Health != provision.Absent || !strings.Contains(got.Detail, "--destination-bin") {
			t.Fatalf("destination status %+v, want absent with the hint", got)
		}
	})
}

// up runs Lifecycle.Up with the local provider in a temporary state dir
// and registers Down.
func up(t *testing.T, opts local.Options) (*provision.Lifecycle, *provision.State) {
	t.Helper()
	opts.BinDir = os.Getenv(local.BinDirEnv)
	reg := provision.NewRegistry()
	reg.Register(local.ProviderName, func(provision.Config) (provision.Provider, error) { return local.New(opts), nil })
	e := &provision.Lifecycle{
		Env:       provision.Env{Name: "t", Dir: filepath.Join(t.TempDir(), "t"), Log: testutil.Discard(), Progress: io.Discard},
		Providers: reg,
	}
	t.Cleanup(func() { localtest.Stop(t, e) })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := e.Up(ctx, local.ProviderName, provision.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return e, res.State
}

// tarOf is a one-file layer.
func tarOf(t *testing.T, name string, data []byte) io.ReadCloser {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return io.NopCloser(&buf)
}
