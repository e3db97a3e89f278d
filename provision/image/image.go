// Package image assembles dstload's workload container image in-process from
// a linux dstload binary, the way ko does: no Dockerfile, no Docker daemon,
// no base image to pull. The result is one layer on an empty base (the
// binary, a passwd/group naming the non-root user, a writable /tmp), written
// as a docker-archive tarball that k3d imports into its nodes.
//
// A static binary (CGO_ENABLED=0, as the Dockerfile and releases build it)
// goes in alone. A dynamically linked one (what `go install` gives on a
// linux machine with a C compiler) goes in with its ELF interpreter and the
// shared libraries it needs, copied from this host, so that the image runs
// whichever way the user built dstload.
package image

import (
	"archive/tar"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
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
	// Binary is the path of a linux dstload binary.
	Binary string
	// Version goes into the image labels and the tag.
	Version string
}

// Built is an assembled image and the tag it should be imported under.
type Built struct {
	Image v1.Image
	Tag   name.Tag
	// Libraries lists the host files copied in for a dynamically linked
	// binary (empty for a static one).
	Libraries []string
}

// UnsupportedBinaryError says why a binary cannot go into the image.
type UnsupportedBinaryError struct {
	Path   string
	Reason string
}

func (e *UnsupportedBinaryError) Error() string {
	return fmt.Sprintf("%s cannot go into the workload image: %s; use a linux dstload binary (e.g. CGO_ENABLED=0 GOOS=linux go build ./cmd/dstload)", e.Path, e.Reason)
}

// epoch is the creation time of every image: like ko, a fixed time keeps
// the digest a function of the files alone, so importing the same binary
// twice is a no-op for the cluster.
var epoch = v1.Time{Time: time.Unix(0, 0).UTC()}

// layerFile is one regular file of the layer.
type layerFile struct {
	name string // in the image, without leading '/'
	mode int64
	src  string // host file to copy; "" = data
	data string
}

// Build assembles the image from opts.Binary.
func Build(opts Options) (*Built, error) {
	bin, err := Inspect(opts.Binary)
	if err != nil {
		return nil, err
	}
	libs, err := libraries(opts.Binary, bin)
	if err != nil {
		return nil, err
	}
	files := []layerFile{
		{name: "etc/passwd", mode: 0o644, data: passwd},
		{name: "etc/group", mode: 0o644, data: group},
	}
	for _, l := range libs {
		files = append(files, layerFile{name: strings.TrimPrefix(path.Clean(l), "/"), mode: 0o755, src: l})
	}
	files = append(files, layerFile{name: strings.TrimPrefix(BinaryPath, "/"), mode: 0o755, src: opts.Binary})

	// The layer is streamed from the host files on each read (digest, diff
	// ID, tarball), so a 100+ MB binary is never held in memory.
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(writeRootfs(pw, files)) }()
		return pr, nil
	})
	if err != nil {
		return nil, fmt.Errorf("build image layer: %w", err)
	}
	comment := "dstload binary, passwd/group, /tmp"
	if len(libs) > 0 {
		comment += ", its interpreter and libraries"
	}
	img, err := mutate.Append(empty.Image, mutate.Addendum{
		Layer: layer,
		History: v1.History{
			Author:    "dstload",
			Created:   epoch,
			CreatedBy: "dstload up (in-process image assembly)",
			Comment:   comment,
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
	cf.Architecture = bin.Arch
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
	return &Built{Image: img, Tag: tag, Libraries: libs}, nil
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

// writeRootfs writes the layer: the directories, then files (parents
// first, each once).
func writeRootfs(w io.Writer, files []layerFile) error {
	tw := tar.NewWriter(w)
	mod := epoch.Time
	dirs := map[string]tar.Header{
		"etc/":          {Mode: 0o755},
		"home/":         {Mode: 0o755},
		"home/nonroot/": {Mode: 0o700, Uid: UID, Gid: GID},
		"tmp/":          {Mode: 0o1777},
	}
	for _, f := range files {
		for d := path.Dir(f.name); d != "."; d = path.Dir(d) {
			if _, ok := dirs[d+"/"]; !ok {
				dirs[d+"/"] = tar.Header{Mode: 0o755}
			}
		}
	}
	names := make([]string, 0, len(dirs))
	for n := range dirs {
		names = append(names, n)
	}
	slices.Sort(names) // parents sort before their children
	for _, n := range names {
		h := dirs[n]
		h.Name, h.Typeflag, h.ModTime, h.Format = n, tar.TypeDir, mod, tar.FormatPAX
		if err := tw.WriteHeader(&h); err != nil {
			return err
		}
	}
	for _, f := range files {
		if err := writeFile(tw, f, mod); err != nil {
			return err
		}
	}
	return tw.Close()
}

func writeFile(tw *tar.Writer, f layerFile, mod time.Time) error {
	var r io.Reader = strings.NewReader(f.data)
	size := int64(len(f.data))
	if f.src != "" {
		// Symlinks (libc.so.6 -> libc-2.36.so) are followed: the image
		// gets the content at the path the loader asks for.
		src, err := os.Open(f.src)
		if err != nil {
			return fmt.Errorf("open %s: %w", f.src, err)
		}
		defer src.Close()
		fi, err := src.Stat()
		if err != nil {
			return fmt.Errorf("stat %s: %w", f.src, err)
		}
		r, size = src, fi.Size()
	}
	h := &tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: f.mode, Size: size, ModTime: mod, Format: tar.FormatPAX}
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	n, err := io.Copy(tw, r)
	if err != nil {
		return fmt.Errorf("copy %s: %w", f.src, err)
	}
	if n != size {
		return fmt.Errorf("%s changed while it was read (%d of %d bytes)", f.src, n, size)
	}
	return nil
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
