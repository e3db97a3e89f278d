// Package scenarios embeds dstload's scenario catalogue: the five scenarios
// of Linkerd's destination load-test plan and subscriber-cost, the
// memory-per-subscriber sweep. The files are read and validated by
// workload/scenario.
package scenarios

import "embed"

// FS holds one <name>.yaml per catalogue scenario.
//
//go:embed *.yaml
var FS embed.FS
