package image

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// buildDstload compiles cmd/dstload as the static linux binary `dstload up`
// would embed, for the machine's architecture so the test can run it.
func buildDstload(t *testing.T) string {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("needs linux to run the image's binary")
	}
	out := filepath.Join(t.TempDir(), "dstload")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-X github.com/dstload/dstload/version.Version=v0.0.0-imagetest", "-o", out, "github.com/dstload/dstload/cmd/dstload")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

func TestBuildUnpackRun(t *testing.T) {
	bin := buildDstload(t)
	built, err := Build(Options{Binary: bin, Version: "v0.0.0-imagetest"})
	if err != nil {
		t.Fatal(err)
	}
	if got := built.Tag.Context().Name(); got != Repository {
		t.Errorf("repository %q, want %q", got, Repository)
	}
	if tag := built.Tag.TagStr(); !strings.HasPrefix(tag, "v0.0.0-imagetest-") || tag == "latest" {
		t.Errorf("tag %q", tag)
	}

	// Through the tarball k3d imports, and back.
	tarPath := filepath.Join(t.TempDir(), "image.tar")
	if err := WriteTarball(built, tarPath); err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(tarPath, &built.Tag)
	if err != nil {
		t.Fatalf("read back tarball under its tag: %v", err)
	}
	wantDigest, _ := built.Image.Digest()
	if d, _ := img.Digest(); d != wantDigest {
		t.Errorf("digest after tarball round trip %s, want %s", d, wantDigest)
	}

	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cf.Config.Entrypoint, " "); got != "/dstload" {
		t.Errorf("entrypoint %q", got)
	}
	if cf.Config.User != "65532:65532" {
		t.Errorf("user %q, want 65532:65532 (non-root, numeric for runAsNonRoot)", cf.Config.User)
	}
	if cf.OS != "linux" || cf.Architecture != runtime.GOARCH {
		t.Errorf("platform %s/%s", cf.OS, cf.Architecture)
	}
	if layers, _ := img.Layers(); len(layers) != 1 {
		t.Errorf("%d layers, want 1 (no base image)", len(layers))
	}

	// Unpack the filesystem as a runtime would and run the binary.
	root := t.TempDir()
	headers := extract(t, mutate.Extract(img), root)
	h := headers["dstload"]
	if h == nil {
		t.Fatalf("no /dstload in the image: %v", headers)
	}
	if h.Mode&0o111 == 0 || h.Uid != 0 {
		t.Errorf("/dstload mode %o uid %d: want executable, owned by root (not writable by the user)", h.Mode, h.Uid)
	}
	if tmp := headers[headerName(headers, "tmp")]; tmp == nil || tmp.Mode&0o1777 != 0o1777 {
		t.Errorf("/tmp missing or not world-writable+sticky: %+v", tmp)
	}
	passwd, err := os.ReadFile(filepath.Join(root, "etc/passwd"))
	if err != nil || !strings.Contains(string(passwd), "nonroot:x:65532:65532:") {
		t.Errorf("passwd lacks the nonroot user: %q %v", passwd, err)
	}
	out, err := exec.Command(filepath.Join(root, "dstload"), "version").CombinedOutput()
	if err != nil {
		t.Fatalf("dstload version from the image: %v\n%s", err, out)
	}
	if !strings.HasPrefix(string(out), "dstload v0.0.0-imagetest") {
		t.Errorf("dstload version printed %q", out)
	}

	// Same binary, same image: importing twice changes nothing.
	again, err := Build(Options{Binary: bin, Version: "v0.0.0-imagetest"})
	if err != nil {
		t.Fatal(err)
	}
	if again.Tag.String() != built.Tag.String() {
		t.Errorf("rebuild tag %s, want %s (reproducible)", again.Tag, built.Tag)
	}
}

func extract(t *testing.T, rc io.ReadCloser, root string) map[string]*tar.Header {
	t.Helper()
	defer rc.Close()
	tr := tar.NewReader(rc)
	headers := map[string]*tar.Header{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return headers
		}
		if err != nil {
			t.Fatal(err)
		}
		headers[h.Name] = h
		p := filepath.Join(root, filepath.FromSlash(h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode).Perm())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(f, tr); err != nil {
				t.Fatal(err)
			}
			f.Close()
		default:
			t.Fatalf("unexpected entry %s type %c", h.Name, h.Typeflag)
		}
	}
}

func TestRefusesBinariesThatCannotRun(t *testing.T) {
	script := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	// /bin/sh here is a dynamically linked linux executable, like a
	// dstload built with cgo.
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	sh, _ = filepath.EvalSymlinks(sh)
	for _, tc := range []struct {
		name, path, want string
	}{
		{"not ELF", script, "not a linux ELF executable"},
		{"dynamic", sh, "dynamically linked"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Build(Options{Binary: tc.path})
			var ns *NotStaticError
			if !errors.As(err, &ns) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "CGO_ENABLED=0") {
				t.Fatalf("got %v, want a NotStaticError about %q naming the fix", err, tc.want)
			}
		})
	}
	if _, err := Build(Options{Binary: filepath.Join(t.TempDir(), "missing")}); err == nil || errors.As(err, new(*NotStaticError)) {
		t.Fatalf("missing binary: got %v, want an open error", err)
	}
}

func TestTagIsValidForAnyVersion(t *testing.T) {
	d, err := v1.NewHash("sha256:" + strings.Repeat("ab", 32))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"dev", "v1.2.3", "v1.2.3+dirty", "(devel)", strings.Repeat("x", 200)} {
		tag := tagFor(v, d)
		if !strings.HasSuffix(tag, "-abababababab") {
			t.Errorf("version %q: tag %q does not end in the digest", v, tag)
		}
		if _, err := name.NewTag(Repository+":"+tag, name.StrictValidation); err != nil {
			t.Errorf("version %q gives invalid tag %s: %v", v, tag, err)
		}
	}
}

// headerName finds a directory entry whatever its trailing slash.
func headerName(h map[string]*tar.Header, dir string) string {
	if _, ok := h[dir+"/"]; ok {
		return dir + "/"
	}
	return dir
}
