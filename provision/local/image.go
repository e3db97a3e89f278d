package local

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// controllerPath is where Linkerd's controller image keeps the Go binary
// (Dockerfile.controller: FROM scratch, entrypoint /controller).
const controllerPath = "controller"

// DefaultImageCacheDir is <user cache dir>/dstload/destination.
func DefaultImageCacheDir() (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("find cache dir: %w", err)
	}
	return filepath.Join(base, "dstload", "destination"), nil
}

// ControllerFromImage returns the path of Linkerd's controller binary from
// image ref, pulling the image for this machine's platform and unpacking
// /controller into cacheDir the first time (no Docker involved). A cached
// binary is used without contacting the registry, so a second up works
// offline.
func ControllerFromImage(ctx context.Context, ref, cacheDir string, progress io.Writer, opts ...remote.Option) (string, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return "", fmt.Errorf("image reference %q: %w", ref, err)
	}
	dir := filepath.Join(cacheDir, sanitize(r.Name()))
	bin := filepath.Join(dir, controllerPath)
	if isExecutable(bin) {
		return bin, nil
	}
	if progress != nil {
		fmt.Fprintf(progress, "pulling %s for the destination controller\n", r.Name())
	}
	opts = append([]remote.Option{
		remote.WithContext(ctx),
		remote.WithPlatform(v1.Platform{OS: "linux", Architecture: runtime.GOARCH}),
	}, opts...)
	img, err := remote.Image(r, opts...)
	if err != nil {
		return "", fmt.Errorf("pull %s: %w", r.Name(), err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, ".controller-*")
	if err != nil {
		return "", fmt.Errorf("unpack %s: %w", r.Name(), err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if err := extractFile(img, controllerPath, tmp); err != nil {
		tmp.Close()
		return "", fmt.Errorf("unpack /%s from %s: %w", controllerPath, r.Name(), err)
	}
	if err := tmp.Chmod(0o755); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), bin); err != nil {
		return "", fmt.Errorf("unpack %s: %w", r.Name(), err)
	}
	return bin, nil
}

// extractFile copies the file at want (a path without leading slash) from
// the image's filesystem into w. Layers are searched from the top, so the
// newest version wins and a whiteout in a higher layer hides lower ones.
func extractFile(img v1.Image, want string, w io.Writer) error {
	layers, err := img.Layers()
	if err != nil {
		return fmt.Errorf("read layers: %w", err)
	}
	dir, base := path.Split(want)
	whiteout := path.Join(dir, ".wh."+base)
	for i := len(layers) - 1; i >= 0; i-- {
		found, err := func() (bool, error) {
			rc, err := layers[i].Uncompressed()
			if err != nil {
				return false, err
			}
			defer rc.Close()
			tr := tar.NewReader(rc)
			for {
				h, err := tr.Next()
				if errors.Is(err, io.EOF) {
					return false, nil
				}
				if err != nil {
					return false, err
				}
				p := strings.TrimPrefix(path.Clean("/"+h.Name), "/")
				switch {
				case p == whiteout:
					return false, fmt.Errorf("/%s is deleted in layer %d", want, i)
				case p == want && h.Typeflag == tar.TypeReg:
					if _, err := io.Copy(w, tr); err != nil {
						return false, err
					}
					return true, nil
				case p == want:
					return false, fmt.Errorf("/%s is not a regular file (tar type %c)", want, h.Typeflag)
				}
			}
		}()
		if err != nil {
			return fmt.Errorf("layer %d: %w", i, err)
		}
		if found {
			return nil
		}
	}
	return fmt.Errorf("/%s is not in the image", want)
}

// sanitize turns an image name into one directory name.
func sanitize(s string) string {
	return strings.NewReplacer("/", "_", ":", "_", "@", "_").Replace(s)
}
