package controlplane

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

const hackDir = "../../../hack/controlplane"

func TestCopyMatchesHack(t *testing.T) {
	for _, tc := range []struct {
		file string
		copy []byte
	}{
		{"go.mod", GoMod},
		{"go.sum", GoSum},
		{"etcd/main.go", EtcdMain},
	} {
		t.Run(tc.file, func(t *testing.T) {
			orig, err := os.ReadFile(filepath.Join(hackDir, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(orig, tc.copy) {
				t.Fatalf("embedded copy of hack/controlplane/%s is stale; run: go generate ./provision/local/controlplane", tc.file)
			}
		})
	}
}

func TestPinsMatchBuildScript(t *testing.T) {
	script, err := os.ReadFile(filepath.Join(hackDir, "build.sh"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ pattern, want string }{
		{`(?m)^k8s_version=(\S+)$`, KubernetesVersion},
		{`(?m)^kwok_version=(\S+)$`, KwokVersion},
	} {
		m := regexp.MustCompile(tc.pattern).FindSubmatch(script)
		if m == nil || string(m[1]) != tc.want {
			t.Errorf("build.sh %s: got %q, want %q", tc.pattern, m, tc.want)
		}
	}
	if !regexp.MustCompile(`(?m)^\s*k8s\.io/kubernetes ` + regexp.QuoteMeta(KubernetesVersion) + `\b`).Match(GoMod) {
		t.Errorf("go.mod does not require k8s.io/kubernetes %s", KubernetesVersion)
	}
	if !regexp.MustCompile(`go\.etcd\.io/etcd/server/v3 ` + regexp.QuoteMeta(EtcdVersion) + `\b`).Match(GoMod) {
		t.Errorf("go.mod does not require etcd server %s", EtcdVersion)
	}
}
