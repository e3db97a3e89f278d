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
	"syscall"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func requireLinux(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("needs linux to run the image's binary")
	}
}

// buildDstload compiles cmd/dstload the way `go install` would on this
// machine (default settings: dynamically linked where cgo is on), which is
// what `dstload up` most often finds itself to be.
func buildDstload(t *testing.T) string {
	t.Helper()
	requireLinux(t)
	out := filepath.Join(t.TempDir(), "dstload")
	cmd := exec.Command("go", "build", "-ldflags", "-X github.com/dstload/dstload/version.Version=v0.0.0-imagetest", "-o", out, "github.com/dstload/dstload/cmd/dstload")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

// buildTiny compiles a small program with the given environment (e.g.
// CGO_ENABLED=0 for a static binary).
func buildTiny(t *testing.T, src string, env ...string) string {
	t.Helper()
	requireLinux(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module tiny\n\ngo 1.26\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "tiny")
	cmd := exec.Command("go", "build", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

// roundTrip writes the image as the tarball k3d imports, reads it back
// under its tag and unpacks its filesystem into a directory.
func roundTrip(t *testing.T, built *Built) (v1.Image, string, map[string]*tar.Header) {
	t.Helper()
	tarPath := filepath.Join(t.TempDir(), "image.tar")
	if err := WriteTarball(built, tarPath); err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(tarPath, &built.Tag)
	if err != nil {
		t.Fatalf("read back tarball under its tag: %v", err)
	}
	want, _ := built.Image.Digest()
	if d, _ := img.Digest(); d != want {
		t.Errorf("digest after tarball round trip %s, want %s", d, want)
	}
	root := t.TempDir()
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	return img, root, extract(t, mutate.Extract(img), root)
}

// runInImage runs the image's entrypoint with args. As root it runs
// inside the unpacked filesystem (chroot) as the image's user, so only
// what the image holds is available, as in a container; otherwise it
// runs the unpacked binary directly.
func runInImage(t *testing.T, root string, args ...string) string {
	t.Helper()
	cmd := exec.Command(BinaryPath, args...)
	if os.Geteuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root, Credential: &syscall.Credential{Uid: UID, Gid: GID}}
		cmd.Dir = "/"
		cmd.Env = []string{"HOME=/home/nonroot"}
	} else {
		t.Log("not root: running the unpacked binary without chroot")
		cmd.Path = filepath.Join(root, BinaryPath)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v in the image: %v\n%s", BinaryPath, args, err, out)
	}
	return string(out)
}

func checkConfig(t *testing.T, img v1.Image) {
	t.Helper()
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
}

func checkFilesystem(t *testing.T, root string, headers map[string]*tar.Header) {
	t.Helper()
	h := headers["dstload"]
	if h == nil {
		t.Fatalf("no /dstload in the image: %v", headers)
	}
	if h.Mode&0o111 == 0 || h.Uid != 0 || h.Mode&0o022 != 0 {
		t.Errorf("/dstload mode %o uid %d: want executable, owned by root, not writable by the user", h.Mode, h.Uid)
	}
	if tmp := headers[headerName(headers, "tmp")]; tmp == nil || tmp.Mode&0o1777 != 0o1777 {
		t.Errorf("/tmp missing or not world-writable+sticky: %+v", tmp)
	}
	passwd, err := os.ReadFile(filepath.Join(root, "etc/passwd"))
	if err != nil || !strings.Contains(string(passwd), "nonroot:x:65532:65532:") {
		t.Errorf("passwd lacks the nonroot user: %q %v", passwd, err)
	}
}

// The real dstload, as built here by default, runs `version` from its
// image.
func TestDstloadImageRunsVersion(t *testing.T) {
	bin := buildDstload(t)
	b, err := Inspect(bin)
	if err != nil {
		t.Fatal(err)
	}
	built, err := Build(Options{Binary: bin, Version: "v0.0.0-imagetest"})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("binary interpreter %q, libraries copied in: %v", b.Interpreter, built.Libraries)
	if (b.Interpreter == "") != (len(built.Libraries) == 0) {
		t.Errorf("interpreter %q but libraries %v", b.Interpreter, built.Libraries)
	}
	if got := built.Tag.Context().Name(); got != Repository {
		t.Errorf("repository %q, want %q", got, Repository)
	}
	if tag := built.Tag.TagStr(); !strings.HasPrefix(tag, "v0.0.0-imagetest-") {
		t.Errorf("tag %q", tag)
	}
	img, root, headers := roundTrip(t, built)
	checkConfig(t, img)
	checkFilesystem(t, root, headers)
	if out := runInImage(t, root, "version"); !strings.HasPrefix(out, "dstload v0.0.0-imagetest") {
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

// Both link modes give a runnable image: a static binary alone, a cgo one
// with its interpreter and libraries (the program resolves a user name
// through libc, so the libraries are really used).
func TestLinkModes(t *testing.T) {
	const src = `package main

import (
	"fmt"
	"os/user"
)

func main() {
	u, err := user.LookupId("65532")
	if err != nil {
		panic(err)
	}
	fmt.Println("user", u.Username)
}
`
	for _, tc := range []struct {
		name    string
		env     []string
		dynamic bool
	}{
		{"static", []string{"CGO_ENABLED=0"}, false},
		{"cgo", []string{"CGO_ENABLED=1"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.dynamic {
				if _, err := exec.LookPath("gcc"); err != nil {
					t.Skip("no C compiler for a cgo build")
				}
			}
			built, err := Build(Options{Binary: buildTiny(t, src, tc.env...)})
			if err != nil {
				t.Fatal(err)
			}
			if tc.dynamic == (len(built.Libraries) == 0) {
				t.Fatalf("libraries %v for a %s binary", built.Libraries, tc.name)
			}
			img, root, headers := roundTrip(t, built)
			checkConfig(t, img)
			checkFilesystem(t, root, headers)
			if out := runInImage(t, root); strings.TrimSpace(out) != "user nonroot" {
				t.Errorf("program printed %q, want the image's user", out)
			}
		})
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
			if err := os.Chmod(p, os.FileMode(h.Mode).Perm()|sticky(h.Mode)); err != nil {
				t.Fatal(err)
			}
			if err := os.Lchown(p, h.Uid, h.Gid); err != nil && os.Geteuid() == 0 {
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

func sticky(mode int64) os.FileMode {
	if mode&0o1000 != 0 {
		return os.ModeSticky
	}
	return 0
}

func TestRefusesUnusableBinaries(t *testing.T) {
	script := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	lib := filepath.Join(t.TempDir(), "lib.so")
	if err := os.WriteFile(lib, []byte("\x7fELF garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path, want string
	}{
		{"script", script, "not a linux ELF executable"},
		{"corrupt ELF", lib, "not a linux ELF executable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Build(Options{Binary: tc.path})
			var ub *UnsupportedBinaryError
			if !errors.As(err, &ub) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "CGO_ENABLED=0 GOOS=linux") {
				t.Fatalf("got %v, want an UnsupportedBinaryError about %q naming the fix", err, tc.want)
			}
		})
	}
	if _, err := Build(Options{Binary: filepath.Join(t.TempDir(), "missing")}); err == nil || errors.As(err, new(*UnsupportedBinaryError)) {
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
