// Package charts holds dstload's own Helm charts, embedded in the binary so
// that `dstload run` can install the workload without a chart repository.
package charts

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
)

// DstLoadTestName is the name of the workload chart (Chart.yaml name and
// directory).
const DstLoadTestName = "dst-load-test"

// files holds the chart sources. "all:" keeps _helpers.tpl and .helmignore,
// which go:embed drops by default (leading '_' and '.').
//
//go:embed all:dst-load-test
var files embed.FS

// FS returns the embedded chart directory tree (rooted above the chart
// directories, e.g. "dst-load-test/Chart.yaml").
func FS() fs.FS { return files }

// DstLoadTest loads the workload chart: the static target Services and
// Deployments on KWOK nodes, the churn and client Deployments, their RBAC
// and optional Prometheus Operator monitors. See its values.yaml for the
// switches.
func DstLoadTest() (*chart.Chart, error) {
	return load(DstLoadTestName)
}

func load(dir string) (*chart.Chart, error) {
	var bufs []*loader.BufferedFile
	err := fs.WalkDir(files, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		bufs = append(bufs, &loader.BufferedFile{Name: strings.TrimPrefix(p, dir+"/"), Data: data})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read embedded chart %s: %w", dir, err)
	}
	c, err := loader.LoadFiles(bufs)
	if err != nil {
		return nil, fmt.Errorf("load embedded chart %s: %w", path.Base(dir), err)
	}
	return c, nil
}

// StaticOnly returns values that render only the target Services and
// Deployments: what the local provider needs, where churn and client run as
// host processes instead of pods. Callers add their own keys (targets.count,
// targets.replicas, ...) to the returned map.
func StaticOnly() map[string]any {
	return map[string]any{
		"churn":      map[string]any{"enabled": false},
		"client":     map[string]any{"enabled": false},
		"monitoring": map[string]any{"enabled": false},
	}
}
