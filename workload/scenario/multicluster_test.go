package scenario

import (
	"strings"
	"testing"
)

func TestMulticlusterField(t *testing.T) {
	tests := []struct {
		name, base, extra, wantErr string
	}{
		{"one cluster", validOscillate, "", ""},
		{"remote discovery", validOscillate, "multicluster: remote-discovery\n", ""},
		{"federated", validOscillate, "multicluster: federated\n", ""},
		{"unknown mode", validOscillate, "multicluster: gateway\n", `multicluster: "gateway" is not a mode: use remote-discovery or federated`},
		{"with a sweep", validSweep, "multicluster: remote-discovery\n", "multicluster: a sweep measures one controller"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse([]byte(tt.base+tt.extra), "test")
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if want := strings.TrimSpace(strings.TrimPrefix(tt.extra, "multicluster:")); s.Multicluster != want {
					t.Errorf("multicluster %q, want %q", s.Multicluster, want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err %v, want %q", err, tt.wantErr)
			}
		})
	}
	e := &MulticlusterError{Scenario: "remote-discovery", Mode: RemoteDiscovery, Env: "dstload"}
	if msg := e.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, "--clusters 2") {
		t.Errorf("not one line naming the fix: %q", msg)
	}
}
