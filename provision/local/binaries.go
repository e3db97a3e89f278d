package local

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/dstload/dstload/provision/local/controlplane"
)

// BinDirEnv names the environment variable that points at a directory of
// control-plane binaries (the same as --bin-dir).
const BinDirEnv = "DSTLOAD_BIN_DIR"

// Binaries maps a program name (controlplane.Binaries) to its path.
type Binaries map[string]string

// ResolveOptions say where to look for the control-plane binaries.
type ResolveOptions struct {
	// BinDir, when set, must hold all of them (--bin-dir or DSTLOAD_BIN_DIR).
	BinDir string
	// CacheDir is where built binaries live; "" = DefaultCacheDir().
	CacheDir string
	// NoBuild forbids building missing binaries.
	NoBuild bool
	// Progress receives build progress lines.
	Progress io.Writer
}

// MissingBinariesError lists binaries that were not found and could not be
// built.
type MissingBinariesError struct {
	Missing []string
	Where   string
	Reason  string
}

// Usage: the fix is the user's (--bin-dir, PATH, a Go toolchain).
func (e *MissingBinariesError) Usage() {}

func (e *MissingBinariesError) Error() string {
	return fmt.Sprintf("local control-plane binaries missing (%s) in %s; %s", strings.Join(e.Missing, ", "), e.Where, e.Reason)
}

// DefaultCacheDir is <user cache dir>/dstload/controlplane/<pin>.
func DefaultCacheDir() (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("find cache dir: %w", err)
	}
	return filepath.Join(base, "dstload", "controlplane", controlplane.Pin()), nil
}

// ResolveBinaries finds every control-plane binary: all from BinDir when set;
// otherwise each from PATH, else the cache. What is still missing is built
// into the cache from the embedded hack/controlplane module when a Go
// toolchain is available.
func ResolveBinaries(ctx context.Context, o ResolveOptions) (Binaries, error) {
	bins := Binaries{}
	if o.BinDir != "" {
		var missing []string
		for _, name := range controlplane.Binaries {
			p := filepath.Join(o.BinDir, name)
			if isExecutable(p) {
				bins[name] = p
			} else {
				missing = append(missing, name)
			}
		}
		if len(missing) > 0 {
			return nil, &MissingBinariesError{Missing: missing, Where: o.BinDir,
				Reason: "build them with hack/controlplane/build.sh " + o.BinDir + " or drop --bin-dir/" + BinDirEnv + " to use the cache"}
		}
		return bins, nil
	}
	cache := o.CacheDir
	if cache == "" {
		var err error
		if cache, err = DefaultCacheDir(); err != nil {
			return nil, err
		}
	}
	var missing []string
	for _, name := range controlplane.Binaries {
		if p, err := exec.LookPath(name); err == nil {
			bins[name] = p
			continue
		}
		if p := filepath.Join(cache, name); isExecutable(p) {
			bins[name] = p
			continue
		}
		missing = append(missing, name)
	}
	if len(missing) == 0 {
		return bins, nil
	}
	goBin, err := exec.LookPath("go")
	if o.NoBuild || err != nil {
		return nil, &MissingBinariesError{Missing: missing, Where: "PATH and " + cache,
			Reason: "install Go so dstload can build them, or pass --bin-dir DIR (env " + BinDirEnv + ") with binaries from hack/controlplane/build.sh"}
	}
	if err := buildBinaries(ctx, goBin, cache, missing, o.Progress); err != nil {
		return nil, err
	}
	for _, name := range missing {
		bins[name] = filepath.Join(cache, name)
	}
	return bins, nil
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// buildBinaries builds the named binaries into cache from a scratch copy of
// hack/controlplane. Each binary is built to a temporary name and renamed, so
// an interrupted build never leaves a half-written binary that looks cached.
func buildBinaries(ctx context.Context, goBin, cache string, names []string, progress io.Writer) error {
	if progress == nil {
		progress = io.Discard
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return fmt.Errorf("create cache %s: %w", cache, err)
	}
	src, err := os.MkdirTemp(cache, ".src-")
	if err != nil {
		return fmt.Errorf("build control plane: %w", err)
	}
	defer os.RemoveAll(src)
	for name, data := range map[string][]byte{
		"go.mod":       controlplane.GoMod,
		"go.sum":       controlplane.GoSum,
		"etcd/main.go": controlplane.EtcdMain,
	} {
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("build control plane: %w", err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return fmt.Errorf("build control plane: %w", err)
		}
	}
	fmt.Fprintf(progress, "building local control-plane binaries into %s (first time only; a few minutes)\n", cache)
	env := append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod", "GOWORK=off")
	for i, name := range names {
		fmt.Fprintf(progress, "  [%d/%d] building %s\n", i+1, len(names), name)
		// Built inside this build's own scratch dir (on the cache's file
		// system, so the rename is atomic): two builds at once (parallel
		// test packages with an empty cache) never write the same file.
		tmp := filepath.Join(src, name+".out")
		var args []string
		var dir = src
		switch name {
		case "etcd":
			args = []string{"build", "-trimpath", "-o", tmp, "./etcd"}
		case "kwok":
			// kwok has its own dependency graph: build it as its own module
			// at its tag, as build.sh does.
			gobin, err := os.MkdirTemp(cache, ".gobin-")
			if err != nil {
				return fmt.Errorf("build kwok: %w", err)
			}
			defer os.RemoveAll(gobin)
			cmd := exec.CommandContext(ctx, goBin, "install", "-trimpath", "sigs.k8s.io/kwok/cmd/kwok@"+controlplane.KwokVersion)
			cmd.Dir = src
			cmd.Env = append(env, "GOBIN="+gobin)
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("build kwok %s: %w: %s", controlplane.KwokVersion, err, lastLines(string(out), 3))
			}
			if err := os.Rename(filepath.Join(gobin, "kwok"), filepath.Join(cache, "kwok")); err != nil {
				return fmt.Errorf("build kwok: %w", err)
			}
			continue
		default:
			args = []string{"build", "-trimpath", "-ldflags", controlplane.LDFlags(), "-o", tmp, "k8s.io/kubernetes/cmd/" + name}
		}
		cmd := exec.CommandContext(ctx, goBin, args...)
		cmd.Dir = dir
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			os.Remove(tmp)
			if ctx.Err() != nil {
				return fmt.Errorf("build %s: %w", name, ctx.Err())
			}
			return fmt.Errorf("build %s: %w: %s", name, err, lastLines(string(out), 3))
		}
		if err := os.Rename(tmp, filepath.Join(cache, name)); err != nil {
			return fmt.Errorf("build %s: %w", name, err)
		}
	}
	fmt.Fprintf(progress, "control-plane binaries ready in %s\n", cache)
	return nil
}

// lastLines returns the last n non-empty lines of s joined by " | ".
func lastLines(s string, n int) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
