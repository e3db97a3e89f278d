package image

import (
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
)

// Binary is what Inspect learns about an executable.
type Binary struct {
	// Arch is the GOARCH it runs on.
	Arch string
	// Interpreter is its ELF interpreter ("" = statically linked).
	Interpreter string
	// Needed are the shared libraries it names (DT_NEEDED).
	Needed []string
}

// Inspect reads path's ELF headers.
func Inspect(path string) (*Binary, error) {
	f, err := elf.Open(path)
	if err != nil {
		// A file system error is the caller's; anything else means the
		// content is not a (whole) ELF file.
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("open binary: %w", err)
		}
		return nil, &UnsupportedBinaryError{Path: path, Reason: "not a linux ELF executable"}
	}
	defer f.Close()
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return nil, &UnsupportedBinaryError{Path: path, Reason: fmt.Sprintf("ELF type %s is not an executable", f.Type)}
	}
	arch, ok := goarch[f.Machine]
	if !ok {
		return nil, &UnsupportedBinaryError{Path: path, Reason: fmt.Sprintf("unsupported machine %s", f.Machine)}
	}
	b := &Binary{Arch: arch}
	for _, p := range f.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		raw, err := io.ReadAll(p.Open())
		if err != nil {
			return nil, fmt.Errorf("read ELF interpreter of %s: %w", path, err)
		}
		b.Interpreter = strings.TrimRight(string(raw), "\x00")
	}
	if b.Needed, err = f.ImportedLibraries(); err != nil {
		return nil, fmt.Errorf("read shared libraries of %s: %w", path, err)
	}
	if b.Interpreter == "" && len(b.Needed) > 0 {
		return nil, &UnsupportedBinaryError{Path: path, Reason: "it needs shared libraries but names no ELF interpreter"}
	}
	return b, nil
}

var goarch = map[elf.Machine]string{
	elf.EM_X86_64:  "amd64",
	elf.EM_AARCH64: "arm64",
	elf.EM_ARM:     "arm",
	elf.EM_386:     "386",
	elf.EM_PPC64:   "ppc64le",
	elf.EM_S390:    "s390x",
	elf.EM_RISCV:   "riscv64",
}

// libDirs are searched for DT_NEEDED libraries, in the dynamic linker's
// usual order (multiarch first).
func libDirs(arch string) []string {
	triplet := map[string]string{
		"amd64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu", "arm": "arm-linux-gnueabihf",
		"386": "i386-linux-gnu", "ppc64le": "powerpc64le-linux-gnu", "s390x": "s390x-linux-gnu", "riscv64": "riscv64-linux-gnu",
	}[arch]
	return []string{"/lib/" + triplet, "/usr/lib/" + triplet, "/lib64", "/usr/lib64", "/lib", "/usr/lib"}
}

// libraries resolves, on this host, the interpreter and every library the
// binary needs, transitively. Paths are as the dynamic linker looks them
// up, so they go into the image at the same place.
func libraries(binPath string, b *Binary) ([]string, error) {
	if b.Interpreter == "" {
		return nil, nil
	}
	if runtime.GOOS != "linux" || b.Arch != runtime.GOARCH {
		return nil, &UnsupportedBinaryError{Path: binPath, Reason: fmt.Sprintf("it is dynamically linked for linux/%s, and this host cannot supply its libraries", b.Arch)}
	}
	if _, err := os.Stat(b.Interpreter); err != nil {
		return nil, &UnsupportedBinaryError{Path: binPath, Reason: "its ELF interpreter " + b.Interpreter + " is not on this host"}
	}
	out := []string{b.Interpreter}
	seen := map[string]bool{}
	queue := slices.Clone(b.Needed)
	for len(queue) > 0 {
		lib := queue[0]
		queue = queue[1:]
		if seen[lib] {
			continue
		}
		seen[lib] = true
		p, err := findLib(lib, b.Arch)
		if err != nil {
			return nil, &UnsupportedBinaryError{Path: binPath, Reason: err.Error()}
		}
		if p != b.Interpreter {
			out = append(out, p)
		}
		dep, err := Inspect(p)
		if err != nil {
			return nil, fmt.Errorf("library %s: %w", p, err)
		}
		queue = append(queue, dep.Needed...)
	}
	return out, nil
}

func findLib(lib, arch string) (string, error) {
	if strings.Contains(lib, "/") {
		return lib, nil
	}
	for _, d := range libDirs(arch) {
		p := filepath.Join(d, lib)
		f, err := elf.Open(p)
		if err != nil {
			continue
		}
		m := f.Machine
		f.Close()
		if goarch[m] == arch {
			return p, nil
		}
	}
	return "", fmt.Errorf("shared library %s not found on this host", lib)
}
