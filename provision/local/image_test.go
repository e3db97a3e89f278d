package local

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

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// layer builds an image layer from name -> content (content "" with a
// ".wh." name is a whiteout).
func layer(t *testing.T, files map[string]string) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for n, c := range files {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o755, Size: int64(len(c)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(c)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func image(t *testing.T, arch string, layers ...v1.Layer) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf.OS, cf.Architecture = "linux", arch
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// TestControllerFromImage pulls from go-containerregistry's in-memory
// registry on 127.0.0.1: a multi-arch index like Linkerd's, whose image for
// this machine has /controller in a lower layer and a newer /controller in
// an upper one.
func TestControllerFromImage(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")

	other := "arm64"
	if runtime.GOARCH == "arm64" {
		other = "amd64"
	}
	mine := image(t, runtime.GOARCH,
		layer(t, map[string]string{"controller": "old binary", "etc/ssl/certs/ca-certificates.crt": "certs"}),
		layer(t, map[string]string{"controller": "#!/bin/sh\necho controller " + runtime.GOARCH + "\n", "linkerd-policy-controller": "rust"}),
	)
	theirs := image(t, other, layer(t, map[string]string{"controller": "wrong arch"}))
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: mine, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: runtime.GOARCH}}},
		mutate.IndexAddendum{Add: theirs, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: other}}},
	)
	ref, err := name.ParseReference(host + "/linkerd/controller:edge-26.8.3")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	ctx := context.Background()
	bin, err := ControllerFromImage(ctx, ref.Name(), cache, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if want := "#!/bin/sh\necho controller " + runtime.GOARCH + "\n"; string(got) != want {
		t.Fatalf("unpacked %q, want the top layer's %q", got, want)
	}
	if fi, _ := os.Stat(bin); fi.Mode()&0o111 == 0 {
		t.Fatalf("unpacked binary mode %v is not executable", fi.Mode())
	}
	if !strings.HasPrefix(bin, cache+string(filepath.Separator)) {
		t.Fatalf("binary %s outside the cache %s", bin, cache)
	}

	// Cached: works with the registry gone (a second, offline up).
	srv.Close()
	again, err := ControllerFromImage(ctx, ref.Name(), cache, nil)
	if err != nil || again != bin {
		t.Fatalf("cached lookup: %q %v, want %q", again, err, bin)
	}

	srv2 := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv2.Close()
	for _, tc := range []struct{ name, ref, want string }{
		{"registry unreachable", host + "/linkerd/controller:other", "pull"},
		{"bad reference", "UPPER/case::", "image reference"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ControllerFromImage(ctx, tc.ref, t.TempDir(), nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}

	// Whiteout and absence, on a live registry.
	host2 := strings.TrimPrefix(srv2.URL, "http://")
	for _, tc := range []struct {
		name string
		img  v1.Image
		want string
	}{
		{"whiteout hides it", image(t, runtime.GOARCH, layer(t, map[string]string{"controller": "x"}), layer(t, map[string]string{".wh.controller": ""})), "deleted"},
		{"not in image", image(t, runtime.GOARCH, layer(t, map[string]string{"other": "x"})), "not in the image"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := name.ParseReference(host2 + "/test/" + strings.ReplaceAll(tc.name, " ", "-") + ":v1")
			if err := remote.Write(r, tc.img); err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			_, err := ControllerFromImage(ctx, r.Name(), dir, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
			// Nothing half-written is left to look cached.
			if matches, _ := filepath.Glob(filepath.Join(dir, "*", "controller")); len(matches) > 0 {
				t.Fatalf("left %v behind", matches)
			}
		})
	}
}
