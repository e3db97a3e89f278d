// Package values embeds dstload's default Helm values files, one per stack
// release (<release>.yaml), so that the binary needs no files beside it.
package values

import (
	"embed"
	"io/fs"
)

//go:embed *.yaml
var stackFiles embed.FS

// StackValues returns the embedded values file of a stack release, or ok=false
// when the release has none.
func StackValues(release string) (data []byte, ok bool) {
	data, err := fs.ReadFile(stackFiles, release+".yaml")
	if err != nil {
		return nil, false
	}
	return data, true
}

// StackFiles lists the embedded stack values files.
func StackFiles() []string {
	entries, _ := fs.ReadDir(stackFiles, ".")
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
