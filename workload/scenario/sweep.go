package scenario

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// ProcessesPerNode is how many client processes share a node by default
// (clients.nodes: 0). A mesh runs several meshed pods per node, and since
// linkerd2 #15166 the destination controller shares one filter state per
// (service port, node): one node for every stream would be the cheapest
// case it has, every stream on a node of its own the dearest.
const ProcessesPerNode = 10

// NodesFor is the default number of client nodes for n client processes:
// ProcessesPerNode per node, rounded up.
func NodesFor(processes int) int {
	return max(1, (processes+ProcessesPerNode-1)/ProcessesPerNode)
}

// ClientNodes is the number of distinct nodes the client processes sit on:
// clients.nodes, or NodesFor(clients.processes).
func (s *Scenario) ClientNodes() int {
	if s.Clients.Nodes > 0 {
		return s.Clients.Nodes
	}
	return NodesFor(s.Clients.Processes)
}

// Sweep steps the number of streams against fixed targets, to measure what
// one subscriber costs the controller (dstload's memory-per-subscriber
// fit). Each step is held until the controller's memory is steady.
type Sweep struct {
	// Steps are stream totals, strictly increasing, each a multiple of one
	// client process's streams (clients.streams / clients.processes); the
	// last is clients.streams. Step k runs the first steps[k] /
	// (streams per process) client processes.
	Steps []int `yaml:"steps"`
	// Hold is how long a step is held at least once every stream holds
	// every endpoint (default 10s); Window is the span over which memory
	// must be steady (default 10s, at most Hold); MaxHold gives up waiting
	// for steady memory (default 2m; the step is then marked unsteady).
	Hold    time.Duration `yaml:"hold"`
	Window  time.Duration `yaml:"window"`
	MaxHold time.Duration `yaml:"maxHold"`
}

// SteadyTolerance is how far the heap in use may range over a step's
// window, relative to its median, for the step to count as steady;
// SteadyFloorBytes is the absolute range always allowed (a GC cycle of an
// idle controller moves its heap by about that much).
const (
	SteadyTolerance  = 0.05
	SteadyFloorBytes = 2 << 20
)

func (sw *Sweep) applyDefaults() {
	if sw.Hold == 0 {
		sw.Hold = 10 * time.Second
	}
	if sw.Window == 0 {
		sw.Window = min(10*time.Second, sw.Hold)
	}
	if sw.MaxHold == 0 {
		sw.MaxHold = max(2*time.Minute, 2*sw.Hold)
	}
}

func (sw *Sweep) stepsText() string {
	parts := make([]string, len(sw.Steps))
	for i, n := range sw.Steps {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, "/")
}

// StreamsPerProcess is how many streams one client process opens (over all
// services).
func (s *Scenario) StreamsPerProcess() int {
	return s.Clients.Streams / s.Clients.Processes
}

// StepProcesses is how many client processes run at sweep step k.
func (s *Scenario) StepProcesses(k int) int {
	return s.Sweep.Steps[k] / s.StreamsPerProcess()
}

func (s *Scenario) validateClientsAndSweep() error {
	cl := s.Clients
	switch {
	case cl.Nodes < 0:
		return bad("clients.nodes", "must be >= 0 (0 = one node per %d client processes), got %d", ProcessesPerNode, cl.Nodes)
	case cl.Nodes > cl.Processes:
		return bad("clients.nodes", "must be <= clients.processes (%d): a client process sits on one node, got %d", cl.Processes, cl.Nodes)
	case cl.Zones < 0:
		return bad("clients.zones", "must be >= 0 (0 = no zone labels), got %d", cl.Zones)
	case cl.Zones > s.ClientNodes():
		return bad("clients.zones", "must be <= the client nodes (%d), got %d", s.ClientNodes(), cl.Zones)
	}
	sw := s.Sweep
	if sw == nil {
		return nil
	}
	if s.Churn.Pattern != PatternStable {
		return bad("sweep", "needs churn.pattern stable: the sweep holds the targets fixed")
	}
	if s.Churn.Duration != 0 {
		return bad("churn.duration", "does not apply with sweep: each step is held sweep.hold until memory is steady")
	}
	if len(sw.Steps) < 3 {
		return bad("sweep.steps", "need at least 3 steps for a fit, got %d", len(sw.Steps))
	}
	per := s.StreamsPerProcess()
	for i, n := range sw.Steps {
		field := "sweep.steps[" + strconv.Itoa(i) + "]"
		switch {
		case n < 0:
			return bad(field, "must be >= 0, got %d", n)
		case i > 0 && n <= sw.Steps[i-1]:
			return bad(field, "must be > the step before (%d), got %d", sw.Steps[i-1], n)
		case n%per != 0:
			return bad(field, "must be a multiple of one client process's streams (clients.streams / clients.processes = %d), got %d", per, n)
		}
	}
	if last := sw.Steps[len(sw.Steps)-1]; last != s.Clients.Streams {
		return bad("sweep.steps", "the last step must be clients.streams (%d), got %d", s.Clients.Streams, last)
	}
	switch {
	case sw.Hold <= 0:
		return bad("sweep.hold", "must be > 0, got %s", sw.Hold)
	case sw.Window <= 0 || sw.Window > sw.Hold:
		return bad("sweep.window", "must be > 0 and <= sweep.hold (%s), got %s", sw.Hold, sw.Window)
	case sw.MaxHold < sw.Hold:
		return bad("sweep.maxHold", "must be >= sweep.hold (%s), got %s", sw.Hold, sw.MaxHold)
	}
	return nil
}

// scaleClientsAndSweep is Apply's part for the fields of this file: out
// already has its streams and processes scaled from s by f.
func (out *Scenario) scaleClientsAndSweep(s *Scenario, f float64) {
	if s.Clients.Nodes > 0 {
		out.Clients.Nodes = min(max(1, int(math.Round(float64(s.Clients.Nodes)*f))), out.Clients.Processes)
	}
	out.Clients.Zones = min(s.Clients.Zones, out.ClientNodes())
	if s.Sweep == nil {
		return
	}
	// Every step stays a whole number of client processes; steps that
	// round onto one another are merged.
	per := out.StreamsPerProcess()
	var steps []int
	for _, n := range s.Sweep.Steps {
		v := int(math.Round(float64(n)*f/float64(per))) * per
		v = min(v, out.Clients.Streams)
		if len(steps) == 0 || v > steps[len(steps)-1] {
			steps = append(steps, v)
		}
	}
	if steps[len(steps)-1] != out.Clients.Streams {
		steps = append(steps, out.Clients.Streams)
	}
	out.Sweep.Steps = steps
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}
