package stack

import (
	"slices"
	"strings"
	"testing"
)

func names(rels []Release) []string {
	var out []string
	for _, r := range rels {
		out = append(out, r.Name)
	}
	return out
}

func TestReleasesArePinned(t *testing.T) {
	want := map[string]string{
		"linkerd-crds":          "2026.8.3",
		"linkerd-control-plane": "2026.8.3",
		"linkerd-multicluster":  "2026.8.3",
		"kwok":                  "0.2.0",
		"stage-fast":            "0.2.0",
		"kube-prometheus-stack": "88.5.3",
	}
	rels := Releases()
	if len(rels) != len(want) {
		t.Fatalf("declared %v, want %d releases", names(rels), len(want))
	}
	for _, r := range rels {
		if want[r.Name] != r.Version {
			t.Errorf("%s: version %q, want %q", r.Name, r.Version, want[r.Name])
		}
		if r.Chart == "" || r.Namespace == "" || r.Group == "" {
			t.Errorf("%s: incomplete declaration %+v", r.Name, r)
		}
		if !strings.HasPrefix(r.Repo, "https://") && !strings.HasPrefix(r.Repo, "oci://") {
			t.Errorf("%s: repository %q is neither https nor oci", r.Name, r.Repo)
		}
	}
	// Callers get their own copy.
	rels[0].Version = "changed"
	if Releases()[0].Version == "changed" {
		t.Error("Releases shares its slice between calls")
	}
}

func TestPlan(t *testing.T) {
	tests := []struct {
		name    string
		sel     Selection
		want    []string
		wantErr string
	}{
		{"local", Selection{Local: true}, []string{"linkerd-crds", "linkerd-control-plane"}, ""},
		{"k3d", Selection{}, []string{"linkerd-crds", "linkerd-control-plane", "kwok", "stage-fast"}, ""},
		{"k3d monitoring", Selection{Monitoring: true},
			[]string{"linkerd-crds", "kube-prometheus-stack", "linkerd-control-plane", "kwok", "stage-fast"}, ""},
		{"multicluster", Selection{Local: true, Multicluster: true},
			[]string{"linkerd-crds", "linkerd-control-plane", "linkerd-multicluster"}, ""},
		// The provider's own Prometheus, not a release.
		{"local monitoring", Selection{Local: true, Monitoring: true}, []string{"linkerd-crds", "linkerd-control-plane"}, ""},
		{"unknown override", Selection{Versions: map[string]string{"linkerd": "1.0.0"}}, nil, `unknown release "linkerd"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Plan(tt.sel)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(names(got), tt.want) {
				t.Errorf("plan = %v, want %v", names(got), tt.want)
			}
		})
	}
}

func TestPlanVersionOverride(t *testing.T) {
	got, err := Plan(Selection{Local: true, Versions: map[string]string{"linkerd-control-plane": "2026.9.1"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range got {
		want := LinkerdChartVersion
		if r.Name == "linkerd-control-plane" {
			want = "2026.9.1"
		}
		if r.Version != want {
			t.Errorf("%s: version %s, want %s", r.Name, r.Version, want)
		}
	}
}

func TestParseFlags(t *testing.T) {
	v, err := ParseVersions([]string{"kwok=0.3.0", " stage-fast = 0.3.0 "})
	if err != nil || v["kwok"] != "0.3.0" || v["stage-fast"] != "0.3.0" {
		t.Errorf("ParseVersions = %v, %v", v, err)
	}
	f, err := ParseValueFiles([]string{"linkerd-control-plane=a.yaml", "linkerd-control-plane=b.yaml", "kwok=k.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f["linkerd-control-plane"], []string{"a.yaml", "b.yaml"}) || !slices.Equal(f["kwok"], []string{"k.yaml"}) {
		t.Errorf("ParseValueFiles = %v", f)
	}
	for _, bad := range [][]string{{"kwok"}, {"=1.0"}, {"kwok="}, {"nope=1.0"}} {
		if _, err := ParseVersions(bad); err == nil {
			t.Errorf("ParseVersions(%q) accepted", bad)
		}
		if _, err := ParseValueFiles(bad); err == nil {
			t.Errorf("ParseValueFiles(%q) accepted", bad)
		}
	}
}
