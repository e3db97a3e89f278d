package scenario

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/dstload/dstload/values/scenarios"
)

// Catalogue returns the embedded scenarios, sorted by name.
func Catalogue() ([]*Scenario, error) {
	return catalogueFrom(scenarios.FS)
}

func catalogueFrom(fsys fs.FS) ([]*Scenario, error) {
	names, err := fs.Glob(fsys, "*.yaml")
	if err != nil {
		return nil, fmt.Errorf("list scenario catalogue: %w", err)
	}
	var out []*Scenario
	for _, n := range names {
		data, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, fmt.Errorf("read catalogue scenario %s: %w", n, err)
		}
		s, err := Parse(data, "catalogue:"+n)
		if err != nil {
			return nil, err
		}
		if want := strings.TrimSuffix(n, ".yaml"); s.Name != want {
			return nil, fmt.Errorf("catalogue scenario %s: name %q must equal the file name %q", n, s.Name, want)
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// ErrNotFound is returned by Load for a name that is neither in the
// catalogue nor a file.
var ErrNotFound = errors.New("no such scenario")

// Load resolves a scenario argument: a catalogue name (baseline), or a path
// to a YAML file (anything containing a slash or ending in .yaml/.yml).
func Load(arg string) (*Scenario, error) {
	if arg == "" {
		return nil, fmt.Errorf("%w: empty name", ErrNotFound)
	}
	if strings.ContainsRune(arg, os.PathSeparator) || strings.Contains(arg, "/") ||
		strings.HasSuffix(arg, ".yaml") || strings.HasSuffix(arg, ".yml") {
		data, err := os.ReadFile(arg)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("%w: file %s does not exist", ErrNotFound, arg)
			}
			return nil, fmt.Errorf("read scenario %s: %w", arg, err)
		}
		return Parse(data, arg)
	}
	data, err := fs.ReadFile(scenarios.FS, path.Clean(arg)+".yaml")
	if err != nil {
		all, cerr := Catalogue()
		if cerr != nil {
			return nil, cerr
		}
		names := make([]string, len(all))
		for i, s := range all {
			names[i] = s.Name
		}
		return nil, fmt.Errorf("%w %q: use one of %s, or a path to a YAML file", ErrNotFound, arg, strings.Join(names, ", "))
	}
	return Parse(data, "catalogue:"+arg+".yaml")
}
