// Package image assembles dstload's workload container image in-process from
// a static linux dstload binary, the way ko does: no Dockerfile, no Docker
// daemon, no base image to pull. The result is one layer (the binary, a
// passwd/group naming the non-root user, a writable /tmp) on an empty base,
// written as a docker-archive tarball that k3d imports into its nodes.
package image

import (
	"archive/tar"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

const (
	// Repository is the image name used for imported images. The ".local"
	// registry host never resolves, so a cluster can only use the
	// imported copy (with imagePullPolicy IfNotPresent or Never).
	Repository = "dstload.local/dstload"
	// BinaryPath is where the binary lives in the image (the entrypoint).
	BinaryPath = "/dstload"
	// UID and GID of the non-root user the image runs as (distroless'
	// "nonroot").
	UID = 65532
	GID = 65532
)

// User is the image config's user, numeric so that Kubernetes'
// runAsNonRoot can verify it without reading /etc/passwd.
var User = fmt.Sprintf("%d:%d", UID, GID)

// Options describes the image to build.
type Options struct {
	// Binary is the path of a static linux dstload binary.
	Binary string
	// Version goes into the image labels and the tag.
	Version string
}

// Built is an assembled image and the tag it should be imported under.
type Built struct {
	Image v1.Image
	Tag   name.Tag
}

// NotStaticError says why a binary cannot run in a base-less image.
type NotStaticError struct {
	Path   string
	Reason string
}

func (e *NotStaticError) Error() string {
	return fmt.Sprintf("%s cannot run in the workload image: %s; build dstload with CGO_ENABLED=0 GOOS=linux, or use a published image", e.Path, e.Reason)
}

// CheckStatic verifies that path is a statically linked linux ELF
// executable and returns its GOARCH. A dynamically linked binary (the
// default of `go build` with cgo on linux) would fail in the image with a
// bare "no such file or directory", so it is refused here instead.
func CheckStatic(path string) (arch string, err error) {
	f, err := elf.Open(path)
	if err != nil {
		var fe *elf.FormatError
		if errors.As(err, &fe) {
			return "", &NotStaticError{Path: path, Reason: "not a linux ELF executable"}
		}
		return "", fmt.Errorf("open binary: %w", err)
	}
	defer f.Close()
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return "", &NotStaticError{Path: path, Reason: fmt.Sprintf("ELF type %s is not an executable", f.Type)}
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return "", &NotStaticError{Path: path, Reason: "dynamically linked (it has an ELF interpreter)"}
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		return "", &NotStaticError{Path: path, Reason: "dynamically linked against " + strings.Join(libs, ", ")}
	}
	switch f.Machine {
	case elf.EM_X86_64:
		return "amd64", nil
	case elf.EM_AARCH64:
		return "arm64", nil
	case elf.EM_ARM:
		return "arm", nil
	case elf.EM_386:
		return "386", nil
	case elf.EM_PPC64:
		return "ppc64le", nil
	case elf.EM_S390:
		return "s390x", nil
	case elf.EM_RISCV:
		return "riscv64", nil
	}
	return "", &NotStaticError{Path: path, Reason: fmt.Sprintf("unsupported machine %s", f.Machine)}
}

// epoch is the creation time of every image: like ko, a fixed time keeps
// the digest a function of the binary alone, so importing the same binary
// twice is a no-op for the cluster.
var epoch = v1.Time{Time: time.Unix(0, 0).UTC()}

// Build assembles the image from opts.Binary.
func Build(opts Options) (*Built, error) {
	arch, err := CheckStatic(opts.Binary)
	if err != nil {
		return nil, err
	}
	// The layer is streamed from the binary on each read (digest, diff ID,
	// tarball), so a 100+ MB binary is never held in memory.
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		bin, err := os.Open(opts.Binary)
		if err != nil {
			return nil, fmt.Errorf("open binary: %w", err)
		}
		fi, err := bin.Stat()
		if err != nil {
			bin.Close()
			return nil, fmt.Errorf("stat binary: %w", err)
		}
		pr, pw := io.Pipe()
		go func() {
			defer bin.Close()
			pw.CloseWithError(writeRootfs(pw, bin, fi.Size()))
		}()
		return pr, nil
	})
	if err != nil {
		return nil, fmt.Errorf("build image layer: %w", err)
	}
	img, err := mutate.Append(empty.Image, mutate.Addendum{
		Layer: layer,
		History: v1.History{
			Author:    "dstload",
			Created:   epoch,
			CreatedBy: "dstload up (in-process image assembly)",
			Comment:   "dstload binary, passwd/group, /tmp",
		},
	})
	if err != nil {
		return nil, fmt.Errorf("append layer: %w", err)
	}
	version := opts.Version
	if version == "" {
		version = "dev"
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("image config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.OS = "linux"
	cf.Architecture = arch
	cf.Created = epoch
	cf.Config.Entrypoint = []string{BinaryPath}
	cf.Config.Cmd = nil
	cf.Config.User = User
	cf.Config.WorkingDir = "/home/nonroot"
	cf.Config.Env = []string{"HOME=/home/nonroot", "TMPDIR=/tmp"}
	cf.Config.Labels = map[string]string{
		"org.opencontainers.image.title":   "dstload",
		"org.opencontainers.image.source":  "https://github.com/dstload/dstload",
		"org.opencontainers.image.version": version,
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("set image config: %w", err)
	}
	digest, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("image digest: %w", err)
	}
	tag, err := name.NewTag(Repository+":"+tagFor(version, digest), name.StrictValidation)
	if err != nil {
		return nil, fmt.Errorf("image tag: %w", err)
	}
	return &Built{Image: img, Tag: tag}, nil
}

// tagFor names the image after the version and the digest: a new binary
// gets a new tag, so pods never run a stale image that happens to share
// a tag (kubelet does not re-check IfNotPresent images), and the tag is
// never "latest", which would make kubelet try to pull.
func tagFor(version string, digest v1.Hash) string {
	v := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
			return r
		}
		return '_'
	}, version)
	if len(v) > 100 {
		v = v[:100]
	}
	h, _ := hex.DecodeString(digest.Hex)
	return fmt.Sprintf("%s-%x", v, h[:6])
}

// writeRootfs writes the layer: the binary plus the few files a non-root
// process expects (its passwd entry for user lookups, a HOME, a writable
// /tmp).
func writeRootfs(w io.Writer, bin io.Reader, binSize int64) error {
	tw := tar.NewWriter(w)
	mod := epoch.Time
	dirs := []tar.Header{
		{Name: "etc/", Mode: 0o755},
		{Name: "home/", Mode: 0o755},
		{Name: "home/nonroot/", Mode: 0o700, Uid: UID, Gid: GID},
		{Name: "tmp/", Mode: 0o1777},
	}
	for _, h := range dirs {
		h.Typeflag = tar.TypeDir
		h.ModTime = mod
		h.Format = tar.FormatPAX
		if err := tw.WriteHeader(&h); err != nil {
			return err
		}
	}
	files := []struct {
		name string
		mode int64
		size int64
		r    io.Reader
	}{
		{"etc/passwd", 0o644, int64(len(passwd)), strings.NewReader(passwd)},
		{"etc/group", 0o644, int64(len(group)), strings.NewReader(group)},
		{strings.TrimPrefix(BinaryPath, "/"), 0o755, binSize, bin},
	}
	for _, f := range files {
		h := &tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: f.mode, Size: f.size, ModTime: mod, Format: tar.FormatPAX}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if n, err := io.Copy(tw, f.r); err != nil {
			return err
		} else if n != f.size {
			return fmt.Errorf("%s changed while it was read (%d of %d bytes)", f.name, n, f.size)
		}
	}
	return tw.Close()
}

const (
	passwd = "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	group  = "root:x:0:\nnonroot:x:65532:\n"
)

// WriteTarball writes b as a docker-archive tarball (manifest.json with
// RepoTags), the format `ctr image import` and k3d's image import read.
// The file is written next to path and renamed into place, so a reader
// never sees a partial tarball.
func WriteTarball(b *Built, path string) error {
	tmp := path + ".tmp"
	if err := tarball.WriteToFile(tmp, b.Tag, b.Image); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write image tarball: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write image tarball: %w", err)
	}
	return nil
}
