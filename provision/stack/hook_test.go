package stack

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dstload/dstload/provision"
)

func TestHookValidate(t *testing.T) {
	f := filepath.Join(t.TempDir(), "v.yaml")
	os.WriteFile(f, []byte("a: 1\n"), 0o600)
	tests := []struct {
		name     string
		hook     Hook
		provider string
		wantErr  string
	}{
		{"local", Hook{}, "local", ""},
		{"k3d monitoring", Hook{Monitoring: true}, "k3d", ""},
		{"local monitoring", Hook{Monitoring: true}, "local", ""},
		{"values", Hook{UserValues: map[string][]string{"linkerd-control-plane": {f}}}, "local", ""},
		{"values for unknown release", Hook{UserValues: map[string][]string{"linkerd": {f}}}, "local", `unknown release "linkerd"`},
		{"missing values file", Hook{UserValues: map[string][]string{"kwok": {f + ".missing"}}}, "k3d", "v.yaml.missing"},
		{"values for a release the provider skips", Hook{UserValues: map[string][]string{"kwok": {f}}}, "local", "does not install"},
		{"--set for a release the provider skips", Hook{UserSet: map[string][]string{"kwok": {"a=1"}}}, "local", "--set for kwok, which provider local does not install"},
		{"negative timeout", Hook{Timeout: -time.Second}, "local", "must be positive"},
		{"unknown version override", Hook{Versions: map[string]string{"nope": "1"}}, "k3d", `unknown release "nope"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.hook.Validate(tt.provider, provision.Capabilities{PodsRun: tt.provider != "local"})
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.wantErr)
			}
		})
	}
}

func TestHookSelectionUsesRecord(t *testing.T) {
	// Status and Down get a zero Hook; the plan comes from what Up recorded.
	st := &provision.State{Provider: "k3d"}
	data, _ := json.Marshal(record{Monitoring: true, Versions: map[string]string{"kwok": "0.3.0"}})
	st.StackData = data
	sel := (&Hook{}).selection(podsRun(st), loadRecord(st))
	if sel.Local || !sel.Monitoring || sel.Versions["kwok"] != "0.3.0" {
		t.Errorf("selection = %+v", sel)
	}
	if loadRecord(&provision.State{StackData: json.RawMessage("{bad")}) != nil {
		t.Error("a damaged record was used")
	}
	if sel := (&Hook{}).selection(false, nil); !sel.Local || sel.Monitoring {
		t.Errorf("local selection = %+v", sel)
	}
}

func TestComponentStatus(t *testing.T) {
	tests := []struct {
		in         ReleaseStatus
		health     string
		detailHave string
	}{
		{ReleaseStatus{Release: "linkerd-crds", Namespace: "linkerd", Chart: "linkerd-crds", Version: "2026.8.3", Revision: 1, State: "deployed", Planned: true},
			provision.Healthy, "linkerd-crds 2026.8.3 in linkerd, revision 1, deployed"},
		{ReleaseStatus{Release: "kwok", State: NotInstalled, Planned: true}, provision.Unhealthy, "dstload up"},
		{ReleaseStatus{Release: "linkerd-control-plane", Chart: "linkerd-control-plane", Version: "2026.8.3", Revision: 3, State: "failed", Planned: true},
			provision.Unhealthy, "failed"},
		{ReleaseStatus{Release: "kube-prometheus-stack", Chart: "kube-prometheus-stack", Version: "88.5.3", State: "deployed"},
			provision.Healthy, "not part of this environment's stack"},
	}
	for _, tt := range tests {
		got := componentStatus("c1", tt.in)
		if got.Name != "release/"+tt.in.Release || got.Cluster != "c1" || got.Health != tt.health || !strings.Contains(got.Detail, tt.detailHave) {
			t.Errorf("%s: got %+v, want health %s and detail with %q", tt.in.Release, got, tt.health, tt.detailHave)
		}
	}
}

func TestHookSettingsDrift(t *testing.T) {
	f := filepath.Join(t.TempDir(), "v.yaml")
	os.WriteFile(f, []byte("controllerLogLevel: debug\n"), 0o600)
	applied := &Hook{Monitoring: true, UserValues: map[string][]string{"linkerd-control-plane": {f}}}
	rec, err := applied.record(applied.selection(true, nil))
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(rec)
	if strings.Contains(string(data), "debug") {
		t.Errorf("the record holds values contents: %s", data)
	}
	// No clusters: Status reports only the settings line, if any.
	st := &provision.State{Provider: "k3d", StackData: data}

	drift := func(h *Hook) bool {
		t.Helper()
		comps, err := h.Status(t.Context(), provision.Env{Name: "e"}, st)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range comps {
			if c.Name == "stack settings" && c.Health == provision.Unhealthy {
				return true
			}
		}
		return false
	}
	same := func() *Hook {
		return &Hook{Monitoring: true, UserValues: map[string][]string{"linkerd-control-plane": {f}}, CompareSettings: true}
	}
	if drift(same()) {
		t.Error("unchanged settings reported as changed")
	}
	h := same()
	h.Monitoring = false
	if !drift(h) {
		t.Error("monitoring turned off not reported")
	}
	h = same()
	h.Versions = map[string]string{"kwok": "0.3.0"}
	if !drift(h) {
		t.Error("a version override not reported")
	}
	h = same()
	h.UserSet = map[string][]string{"linkerd-control-plane": {"controllerLogLevel=info"}}
	if !drift(h) {
		t.Error("a --set not reported")
	}
	os.WriteFile(f, []byte("controllerLogLevel: info\n"), 0o600)
	if !drift(same()) {
		t.Error("changed values file contents not reported")
	}
	// status and down build a zero Hook: they never report drift.
	if drift(&Hook{}) {
		t.Error("a zero Hook reported drift")
	}
}
