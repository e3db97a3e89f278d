package local

import (
	"testing"

	"github.com/dstload/dstload/provision"
)

// TestNeedsChange: an environment that is up is changed only when the
// destination controller asked for differs from the running one, or when
// a restart is asked for (dstload ab restarts an unchanged controller), or
// a second cluster.
func TestNeedsChange(t *testing.T) {
	running := func() *provision.State {
		st := &provision.State{}
		st.SetCluster(provision.Cluster{Name: "e", DestinationBin: "/bin/ctl", DestinationArgs: []string{"-x=1"}, DestinationSource: "process", DestinationAddr: "127.0.0.1:1"})
		st.SetProcess(provision.Process{Name: Destination, PID: 1})
		return st
	}
	tests := []struct {
		name string
		opts Options
		want bool
	}{
		{"plain up", Options{}, false},
		{"same binary and flags", Options{DestinationBin: "/bin/ctl", DestinationArgs: []string{"-x=1"}, DestinationArgsSet: true}, false},
		{"other flags", Options{DestinationBin: "/bin/ctl", DestinationArgsSet: true}, true},
		{"other binary", Options{DestinationBin: "/bin/other", DestinationArgs: []string{"-x=1"}, DestinationArgsSet: true}, true},
		{"restart of the same", Options{DestinationBin: "/bin/ctl", DestinationArgs: []string{"-x=1"}, DestinationArgsSet: true, DestinationRestart: true}, true},
		{"restart, plain", Options{DestinationRestart: true}, true},
		{"external address", Options{DestinationAddr: "127.0.0.1:2"}, true},
		{"one cluster asked of one", Options{Clusters: 1}, false},
		{"a second cluster", Options{Clusters: 2}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := New(tc.opts).NeedsChange(running()); got != tc.want {
				t.Errorf("NeedsChange = %v, want %v", got, tc.want)
			}
		})
	}
}
