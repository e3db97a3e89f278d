// Package controlplane carries a checked copy of the hack/controlplane build
// module (go.mod, go.sum, etcd's main) so that the dstload binary can build
// the pinned local control-plane binaries on a machine that has Go but not
// the dstload source tree. hack/controlplane is a separate Go module, and
// go:embed cannot reach into another module, hence the copy;
// TestCopyMatchesHack fails when the two drift. Refresh the copy with
// `go generate ./provision/local/controlplane`.
package controlplane

//go:generate cp ../../../hack/controlplane/go.mod go.mod.txt
//go:generate cp ../../../hack/controlplane/go.sum go.sum.txt
//go:generate cp ../../../hack/controlplane/etcd/main.go etcd_main.go.txt

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"strings"
)

// Pinned versions; they must match hack/controlplane/build.sh (the test
// checks) and the module files below.
const (
	KubernetesVersion = "v1.36.3"
	KwokVersion       = "v0.8.0"
	EtcdVersion       = "v3.6.16"
)

var (
	//go:embed go.mod.txt
	GoMod []byte
	//go:embed go.sum.txt
	GoSum []byte
	//go:embed etcd_main.go.txt
	EtcdMain []byte
)

// Binaries are the programs the local provider supervises.
var Binaries = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}

// KubeCommands are built from k8s.io/kubernetes/cmd/<name>.
var KubeCommands = []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler"}

// LDFlags set the version the Kubernetes binaries report; without them the
// apiserver says v0.0.0-master and Helm refuses charts with a kubeVersion.
func LDFlags() string {
	var b strings.Builder
	for _, pkg := range []string{"k8s.io/component-base/version", "k8s.io/client-go/pkg/version"} {
		b.WriteString(" -X " + pkg + ".gitVersion=" + KubernetesVersion)
		b.WriteString(" -X " + pkg + ".gitMajor=1 -X " + pkg + ".gitMinor=36")
		b.WriteString(" -X " + pkg + ".gitTreeState=clean -X " + pkg + ".buildDate=2026-01-01T00:00:00Z")
	}
	return strings.TrimSpace(b.String())
}

// Pin names a cache directory: the versions plus a digest of the module
// files, so a changed go.sum never reuses binaries built from the old one.
func Pin() string {
	h := sha256.New()
	h.Write(GoMod)
	h.Write(GoSum)
	h.Write(EtcdMain)
	return "k8s-" + KubernetesVersion + "-etcd-" + EtcdVersion + "-kwok-" + KwokVersion + "-" + hex.EncodeToString(h.Sum(nil))[:12]
}
