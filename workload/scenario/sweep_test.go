package scenario

import (
	"slices"
	"strings"
	"testing"
	"time"
)

const validSweep = `
name: sweep
services:
  count: 2
  endpoints: 3
churn:
  pattern: stable
clients:
  streams: 40
  processes: 4
sweep:
  steps: [0, 10, 20, 40]
criteria:
  - metric: heap_per_subscriber
    max: 100KiB
`

func TestSweepParse(t *testing.T) {
	s, err := Parse([]byte(validSweep), "test")
	if err != nil {
		t.Fatal(err)
	}
	sw := s.Sweep
	if sw.Hold != 10*time.Second || sw.Window != 10*time.Second || sw.MaxHold != 2*time.Minute {
		t.Errorf("defaults: hold %s window %s maxHold %s", sw.Hold, sw.Window, sw.MaxHold)
	}
	if got := []int{s.StepProcesses(0), s.StepProcesses(1), s.StepProcesses(2), s.StepProcesses(3)}; !slices.Equal(got, []int{0, 1, 2, 4}) {
		t.Errorf("step processes %v", got)
	}
	if got, want := s.Shape(), "2 svc x 3 endpoints, no churn; streams stepped 0/10/20/40 (4 client processes on 1 node)"; got != want {
		t.Errorf("shape %q, want %q", got, want)
	}
	if got := s.Criteria[0].Max.Value; got != 100<<10 {
		t.Errorf("threshold %v", got)
	}
}

func TestSweepAndNodesRejects(t *testing.T) {
	replace := func(old, new string) string {
		if !strings.Contains(validSweep, old) {
			t.Fatalf("fixture has no %q", old)
		}
		return strings.Replace(validSweep, old, new, 1)
	}
	tests := []struct{ name, file, want string }{
		{"negative nodes", replace("processes: 4", "processes: 4\n  nodes: -1"), "clients.nodes: must be >= 0"},
		{"more nodes than processes", replace("processes: 4", "processes: 4\n  nodes: 5"), "clients.nodes: must be <= clients.processes (4)"},
		{"more zones than nodes", replace("processes: 4", "processes: 4\n  nodes: 2\n  zones: 3"), "clients.zones: must be <= the client nodes (2), got 3"},
		{"oscillating", replace("pattern: stable", "pattern: oscillate\n  min: 1\n  max: 4\n  holdMax: 1s\n  holdMin: 1s\n  cycles: 1"), "sweep: needs churn.pattern stable"},
		{"duration", replace("pattern: stable", "pattern: stable\n  duration: 1m"), "churn.duration: does not apply with sweep"},
		{"too few steps", replace("[0, 10, 20, 40]", "[0, 40]"), "sweep.steps: need at least 3 steps"},
		{"not increasing", replace("[0, 10, 20, 40]", "[0, 20, 20, 40]"), "sweep.steps[2]: must be > the step before (20), got 20"},
		{"not a process multiple", replace("[0, 10, 20, 40]", "[0, 15, 20, 40]"), "sweep.steps[1]: must be a multiple of one client process's streams (clients.streams / clients.processes = 10), got 15"},
		{"last is not streams", replace("[0, 10, 20, 40]", "[0, 10, 20, 30]"), "sweep.steps: the last step must be clients.streams (40), got 30"},
		{"window over hold", replace("steps: [0, 10, 20, 40]", "steps: [0, 10, 20, 40]\n  hold: 5s\n  window: 6s"), "sweep.window: must be > 0 and <= sweep.hold (5s), got 6s"},
		{"maxHold under hold", replace("steps: [0, 10, 20, 40]", "steps: [0, 10, 20, 40]\n  hold: 5s\n  maxHold: 4s"), "sweep.maxHold: must be >= sweep.hold (5s), got 4s"},
		{"unknown sweep field", replace("steps: [0, 10, 20, 40]", "steps: [0, 10, 20, 40]\n  step: 1"), "sweep.step (line 13): unknown field (known: steps, hold, window, maxHold)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.file), "test")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v\nwant it to contain %q", err, tt.want)
			}
		})
	}
}

func TestSweepAndNodesScale(t *testing.T) {
	s, err := Parse([]byte(replaceOnce(validSweep, "processes: 4", "processes: 4\n  nodes: 4\n  zones: 2")), "test")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		scale        float64
		streams      int
		processes    int
		nodes, zones int
		steps        []int
	}{
		{1, 40, 4, 4, 2, []int{0, 10, 20, 40}},
		// 2 processes of 10 streams: the steps stay whole processes
		// (10 x 0.5 rounds up to one), and steps that round onto one
		// another merge.
		{0.5, 20, 2, 2, 2, []int{0, 10, 20}},
		// One process: two steps are left, too few.
		{0.1, 4, 1, 1, 1, []int{0, 4}},
		// Streams round to a multiple of 4 svc x 8 processes (96), so a
		// process has 12 and the steps round to multiples of 12, the
		// last being clients.streams.
		{2, 96, 8, 8, 2, []int{0, 24, 36, 84, 96}},
	}
	for _, tt := range tests {
		o := NoOverrides()
		o.Scale = tt.scale
		got, err := s.Apply(o)
		if tt.scale == 0.1 {
			// Two steps left: too few for a fit, and said so.
			if err == nil || !strings.Contains(err.Error(), "sweep.steps: need at least 3 steps") {
				t.Errorf("scale 0.1: err %v", err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("scale %v: %v", tt.scale, err)
		}
		if got.Clients.Streams != tt.streams || got.Clients.Processes != tt.processes || got.ClientNodes() != tt.nodes ||
			got.Clients.Zones != tt.zones || !slices.Equal(got.Sweep.Steps, tt.steps) {
			t.Errorf("scale %v: streams %d processes %d nodes %d zones %d steps %v; want %d %d %d %d %v", tt.scale,
				got.Clients.Streams, got.Clients.Processes, got.ClientNodes(), got.Clients.Zones, got.Sweep.Steps,
				tt.streams, tt.processes, tt.nodes, tt.zones, tt.steps)
		}
	}
	if !slices.Equal(s.Sweep.Steps, []int{0, 10, 20, 40}) {
		t.Errorf("Apply changed the original's steps: %v", s.Sweep.Steps)
	}
}

func TestNodesFor(t *testing.T) {
	for _, tt := range []struct{ processes, nodes int }{{1, 1}, {5, 1}, {10, 1}, {11, 2}, {100, 10}, {250, 25}} {
		if got := NodesFor(tt.processes); got != tt.nodes {
			t.Errorf("NodesFor(%d) = %d, want %d", tt.processes, got, tt.nodes)
		}
	}
}

func replaceOnce(s, old, new string) string { return strings.Replace(s, old, new, 1) }
