package local

import (
	"bytes"
	"embed"
	"fmt"
	"os"
	"sort"
	"strconv"

	"github.com/dstload/dstload/provision/fakenode"
)

// portKwok is kwok's port in data.Ports.
const portKwok = "kwok"

// kwok is the kwok controller: it plays the fake nodes and their pods
// through the stages in kwok.yaml, and manages only the nodes dstload made.
func kwok(l layout) component {
	port := l.ports[portKwok]
	return component{
		name: Kwok,
		argv: []string{l.bins[Kwok],
			"--kubeconfig=" + l.kubeconfigPath("kwok"),
			"--config=" + l.config("kwok.yaml"),
			"--manage-all-nodes=false",
			"--manage-nodes-with-annotation-selector=" + fakenode.AnnotationKey + "=" + fakenode.TaintValue,
			"--server-address=127.0.0.1:" + strconv.Itoa(port),
		},
		addr: loopback(port), health: loopbackURL("http", port, "/healthz"),
		ports: map[string]int{"http": port},
		// kwok writes node and pod status of every fake node.
		clients:        []clientIdentity{{"kwok", "kwok-controller", []string{"system:masters"}}},
		kubeconfig:     "kwok",
		configs:        []configFile{{"kwok.yaml", writeKwokConfig}},
		afterAPIServer: true,
	}
}

// stageFiles are kwok's stage-fast Stage definitions (node-initialize,
// node-heartbeat, pod-ready, pod-complete, pod-delete), copied unchanged from
// sigs.k8s.io/kwok@v0.8.0 kustomize/stage/ so that they ship inside dstload.
//
//go:embed stages/*.yaml
var stageFiles embed.FS

const kwokConfiguration = `---
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokConfiguration
options:
  podPlayStageParallelism: 16
  nodePlayStageParallelism: 4
`

// writeKwokConfig writes kwok's configuration and every embedded Stage into one multi-document YAML
// file for kwok --config.
func writeKwokConfig(path string) error {
	entries, err := stageFiles.ReadDir("stages")
	if err != nil {
		return fmt.Errorf("read embedded stages: %w", err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	var buf bytes.Buffer
	// kwok's own settings travel in the same file. Its default of 4 pods
	// handled in parallel makes kwok the slowest link when a Deployment
	// scales by hundreds (about 40 pods/s here).
	buf.WriteString(kwokConfiguration)
	for _, n := range names {
		data, err := stageFiles.ReadFile("stages/" + n)
		if err != nil {
			return fmt.Errorf("read embedded stage %s: %w", n, err)
		}
		buf.WriteString("---\n")
		buf.Write(data)
		if !bytes.HasSuffix(data, []byte("\n")) {
			buf.WriteByte('\n')
		}
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write kwok config: %w", err)
	}
	return nil
}
