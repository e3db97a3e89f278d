package charts

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

type dashboard struct {
	UID    string `json:"uid"`
	Panels []struct {
		ID      int    `json:"id"`
		Title   string `json:"title"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

// TestDashboard: the dashboard parses, every panel queries something,
// every query is valid PromQL by Prometheus' own parser (promtool), and
// the chart ships exactly this file.
func TestDashboard(t *testing.T) {
	b, err := Dashboard()
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	if d.UID == "" || len(d.Panels) < 10 {
		t.Fatalf("dashboard %q has %d panels", d.UID, len(d.Panels))
	}
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	ids := map[int]bool{}
	n := 0
	for _, p := range d.Panels {
		if ids[p.ID] || len(p.Targets) == 0 {
			t.Errorf("panel %d %q: duplicate id or no query", p.ID, p.Title)
		}
		ids[p.ID] = true
		for _, tg := range p.Targets {
			// Grafana's variables, as Grafana would fill them in.
			e := strings.NewReplacer("$__rate_interval", "1m", "$destination", ".*").Replace(tg.Expr)
			n++
			q, _ := json.Marshal(e)
			fmt.Fprintf(&rules, "      - record: panel_%d_query_%d\n        expr: %s\n", p.ID, n, q)
		}
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool is not installed (Debian package prometheus): the dashboard's PromQL cannot be checked")
		}
		t.Skip("promtool not found (Debian package prometheus): skipping the PromQL check")
	}
	f := filepath.Join(t.TempDir(), "rules.yaml")
	os.WriteFile(f, []byte(rules.String()), 0o600)
	if out, err := exec.Command(promtool, "check", "rules", f).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules: %v\n%s\n%s", err, out, rules.String())
	}

	objs, err := render(t, map[string]any{"monitoring": map[string]any{"enabled": true}})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, o := range objs {
		if o.GetKind() == "ConfigMap" && o.GetLabels()["grafana_dashboard"] == "1" {
			data, _, _ := unstructured.NestedString(o.Object, "data", "dstload-destination.json")
			found = strings.TrimSpace(data) == strings.TrimSpace(string(b))
		}
	}
	if !found {
		t.Error("the chart does not ship the dashboard as a grafana_dashboard ConfigMap")
	}
}
