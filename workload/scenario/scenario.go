// Package scenario holds dstload's scenario files: what a run deploys, how it
// churns, how many streams it opens and which criteria judge it. Files
// are strict YAML: unknown fields are errors, and every
// error names the field.
package scenario

import (
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Churn patterns.
const (
	PatternStable    = "stable"
	PatternOscillate = "oscillate"
)

// Scenario is one scenario file.
type Scenario struct {
	// Name identifies the scenario in reports; catalogue names equal their
	// file names.
	Name        string   `yaml:"name"`
	Description string   `yaml:"description"`
	Services    Services `yaml:"services"`
	Churn       Churn    `yaml:"churn"`
	Clients     Clients  `yaml:"clients"`
	// Settle bounds the wait, after the last scale event, for the cluster
	// and every stream to converge. The run ends earlier when they do.
	Settle time.Duration `yaml:"settle"`
	// Sweep, when set, steps the number of streams instead of holding
	// clients.streams (sweep.go).
	Sweep    *Sweep      `yaml:"sweep"`
	Criteria []Criterion `yaml:"criteria"`

	// Source is "catalogue" or the file path it was read from.
	Source string `yaml:"-"`
}

// Services are the target Services, each backed by one Deployment of fake
// (KWOK) pods.
type Services struct {
	Count int `yaml:"count"`
	// Endpoints is the replica count each Deployment starts with. Required
	// for the stable pattern; for oscillate it defaults to churn.min.
	Endpoints int `yaml:"endpoints"`
}

// Churn says how the Deployments are scaled while the load runs.
type Churn struct {
	Pattern string `yaml:"pattern"`
	Min     int    `yaml:"min"`
	Max     int    `yaml:"max"`
	// HoldMax and HoldMin are how long a Deployment stays at max and at min.
	HoldMax time.Duration `yaml:"holdMax"`
	HoldMin time.Duration `yaml:"holdMin"`
	// Jitter delays each service's scale write by a random amount in
	// [0, Jitter], so services do not move in lockstep.
	Jitter time.Duration `yaml:"jitter"`
	// Cycles is the number of up-and-down cycles; 0 means until Duration.
	Cycles int `yaml:"cycles"`
	// Duration is how long the load is held (stable) or an upper bound on the
	// churn phase (oscillate; 0 = the cycles decide).
	Duration time.Duration `yaml:"duration"`
}

// Clients are the Destination.Get streams.
type Clients struct {
	// Streams is the total number of streams, spread evenly over services.
	Streams int `yaml:"streams"`
	// Processes is how many client processes (pods on k3d/kubeconfig) carry
	// the streams; on the local provider they run inside dstload.
	Processes int `yaml:"processes"`
	// Connections is the number of HTTP/2 connections per client process.
	Connections int `yaml:"connections"`
	// SampleStreams caps how many streams record every endpoint's Add/Remove
	// time (0 = all). Convergence is recorded for every stream regardless.
	SampleStreams int `yaml:"sampleStreams"`
	// Nodes is how many distinct nodes the client processes sit on (their
	// context tokens' nodeName, the controller's filter key); 0 = the
	// default, NodesFor. Zones, when > 0, spreads those nodes over that
	// many topology zones. See sweep.go.
	Nodes int `yaml:"nodes"`
	Zones int `yaml:"zones"`
}

// Criterion is one success criterion: a metric and a bound.
type Criterion struct {
	Metric string     `yaml:"metric" json:"metric"`
	Max    *Threshold `yaml:"max,omitempty" json:"max,omitempty"`
	Min    *Threshold `yaml:"min,omitempty" json:"min,omitempty"`
}

// Info returns the criterion's metric description (valid after Validate).
func (c Criterion) Info() MetricInfo {
	m, _ := LookupMetric(c.Metric)
	return m
}

// String renders the criterion as people read it: "p95 < 500ms".
func (c Criterion) String() string {
	m := c.Info()
	name := m.Short
	if name == "" {
		name = c.Metric
	}
	var parts []string
	if c.Min != nil {
		parts = append(parts, fmt.Sprintf("%s >= %s", name, c.Min.Raw))
	}
	if c.Max != nil {
		op := "<"
		if m.Unit == UnitCount || m.Unit == UnitRatio {
			op = "<="
		}
		parts = append(parts, fmt.Sprintf("%s %s %s", name, op, c.Max.Raw))
	}
	return strings.Join(parts, ", ")
}

// Parse reads one scenario file strictly and validates it. source names it
// in errors (a path, or "catalogue").
func Parse(data []byte, source string) (*Scenario, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("scenario %s: %w", source, err)
	}
	if doc.Kind == 0 {
		return nil, fmt.Errorf("scenario %s: file is empty", source)
	}
	s := &Scenario{Source: source}
	if err := decodeStrict(&doc, reflect.ValueOf(s).Elem(), ""); err != nil {
		return nil, fmt.Errorf("scenario %s: %w", source, err)
	}
	s.applyDefaults()
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Scenario) applyDefaults() {
	if s.Churn.Pattern == PatternOscillate && s.Services.Endpoints == 0 {
		s.Services.Endpoints = s.Churn.Min
	}
	if s.Clients.Processes == 0 {
		s.Clients.Processes = 1
	}
	if s.Clients.Connections == 0 {
		s.Clients.Connections = 1
	}
	if s.Settle == 0 {
		s.Settle = 2 * time.Minute
	}
	if s.Sweep != nil {
		s.Sweep.applyDefaults()
	}
}

var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// Validate checks every field and names the first one that is wrong, e.g.
// "scenario small-oscillation: churn.max: must be >= churn.min (10)".
func (s *Scenario) Validate() error {
	if err := s.validate(); err != nil {
		name := s.Name
		if name == "" {
			name = s.Source
		}
		return fmt.Errorf("scenario %s: %w", name, err)
	}
	return nil
}

func bad(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

func (s *Scenario) validate() error {
	switch {
	case s.Name == "":
		return bad("name", "required")
	case !nameRE.MatchString(s.Name):
		return bad("name", "%q must be lower-case letters, digits and dashes", s.Name)
	}
	if s.Services.Count < 1 {
		return bad("services.count", "must be >= 1, got %d", s.Services.Count)
	}
	c := s.Churn
	switch c.Pattern {
	case PatternStable:
		if s.Services.Endpoints < 1 {
			return bad("services.endpoints", "must be >= 1 with churn.pattern stable, got %d", s.Services.Endpoints)
		}
		for _, f := range []struct {
			field string
			set   bool
		}{{"churn.min", c.Min != 0}, {"churn.max", c.Max != 0}, {"churn.holdMax", c.HoldMax != 0},
			{"churn.holdMin", c.HoldMin != 0}, {"churn.jitter", c.Jitter != 0}, {"churn.cycles", c.Cycles != 0}} {
			if f.set {
				return bad(f.field, "only applies to churn.pattern oscillate")
			}
		}
		if c.Duration <= 0 && s.Sweep == nil {
			return bad("churn.duration", "must be > 0 with churn.pattern stable (how long the load is held)")
		}
	case PatternOscillate:
		switch {
		case c.Min < 0:
			return bad("churn.min", "must be >= 0, got %d", c.Min)
		case c.Max <= c.Min:
			return bad("churn.max", "must be > churn.min (%d), got %d", c.Min, c.Max)
		case c.HoldMax <= 0:
			return bad("churn.holdMax", "must be > 0, got %s", c.HoldMax)
		case c.HoldMin <= 0:
			return bad("churn.holdMin", "must be > 0, got %s", c.HoldMin)
		case c.Jitter < 0:
			return bad("churn.jitter", "must be >= 0, got %s", c.Jitter)
		case c.Jitter >= c.HoldMax || c.Jitter >= c.HoldMin:
			return bad("churn.jitter", "must be shorter than both holds (%s, %s), got %s", c.HoldMax, c.HoldMin, c.Jitter)
		case c.Cycles < 0:
			return bad("churn.cycles", "must be >= 0 (0 = until churn.duration), got %d", c.Cycles)
		case c.Duration < 0:
			return bad("churn.duration", "must be >= 0, got %s", c.Duration)
		case c.Cycles == 0 && c.Duration == 0:
			return bad("churn.cycles", "set churn.cycles or churn.duration, or the churn never ends")
		case s.Services.Endpoints < c.Min || s.Services.Endpoints > c.Max:
			return bad("services.endpoints", "must be within churn.min..churn.max (%d..%d), got %d", c.Min, c.Max, s.Services.Endpoints)
		}
	case "":
		return bad("churn.pattern", "required: stable or oscillate")
	default:
		return bad("churn.pattern", "%q is not a pattern: use stable or oscillate", c.Pattern)
	}
	cl := s.Clients
	switch {
	case cl.Streams < 1:
		return bad("clients.streams", "must be >= 1, got %d", cl.Streams)
	case cl.Processes < 1:
		return bad("clients.processes", "must be >= 1, got %d", cl.Processes)
	case cl.Processes > cl.Streams:
		return bad("clients.processes", "must be <= clients.streams (%d), got %d", cl.Streams, cl.Processes)
	case cl.Streams%(s.Services.Count*cl.Processes) != 0:
		// Every client process opens the same number of streams on every
		// service, as the chart's client pods do.
		return bad("clients.streams", "must be a multiple of services.count x clients.processes (%d x %d = %d), got %d",
			s.Services.Count, cl.Processes, s.Services.Count*cl.Processes, cl.Streams)
	case cl.Connections < 1:
		return bad("clients.connections", "must be >= 1, got %d", cl.Connections)
	case cl.SampleStreams < 0:
		return bad("clients.sampleStreams", "must be >= 0 (0 = every stream), got %d", cl.SampleStreams)
	}
	if err := s.validateClientsAndSweep(); err != nil {
		return err
	}
	if s.Settle <= 0 {
		return bad("settle", "must be > 0, got %s", s.Settle)
	}
	if len(s.Criteria) == 0 {
		return bad("criteria", "at least one criterion is required: a run without one has no verdict")
	}
	seen := map[string]bool{}
	for i := range s.Criteria {
		cr := &s.Criteria[i]
		field := fmt.Sprintf("criteria[%d]", i)
		m, ok := LookupMetric(cr.Metric)
		switch {
		case cr.Metric == "":
			return bad(field+".metric", "required (one of %s)", metricNames())
		case !ok:
			return bad(field+".metric", "unknown metric %q (one of %s)", cr.Metric, metricNames())
		case seen[cr.Metric]:
			return bad(field+".metric", "%s is judged twice; put min and max in one criterion", cr.Metric)
		case cr.Max == nil && cr.Min == nil:
			return bad(field, "set max or min")
		}
		seen[cr.Metric] = true
		if cr.Max != nil {
			if err := cr.Max.parse(m.Unit); err != nil {
				return bad(field+".max", "%v", err)
			}
		}
		if cr.Min != nil {
			if err := cr.Min.parse(m.Unit); err != nil {
				return bad(field+".min", "%v", err)
			}
		}
		if cr.Max != nil && cr.Min != nil && cr.Max.Value < cr.Min.Value {
			return bad(field+".max", "must be >= %s.min (%s)", field, cr.Min.Raw)
		}
	}
	return nil
}

// Events is the number of scale events per service (0 for stable; for
// oscillate without cycles, an estimate from churn.duration).
func (s *Scenario) Events() int {
	c := s.Churn
	if c.Pattern != PatternOscillate {
		return 0
	}
	n := 2 * c.Cycles
	if c.Duration > 0 {
		// Event k (0-based) happens after k holds: up, hold max, down, hold min.
		byDur, t := 0, time.Duration(0)
		for t < c.Duration {
			byDur++
			if byDur%2 == 1 {
				t += c.HoldMax
			} else {
				t += c.HoldMin
			}
		}
		if n == 0 || byDur < n {
			n = byDur
		}
	}
	return n
}

// ChurnDuration is how long the churn phase lasts: the stable hold, or the
// time until the last oscillation event plus its hold.
func (s *Scenario) ChurnDuration() time.Duration {
	c := s.Churn
	if c.Pattern != PatternOscillate {
		return c.Duration
	}
	var d time.Duration
	for k := range s.Events() {
		if k%2 == 0 {
			d += c.HoldMax
		} else {
			d += c.HoldMin
		}
	}
	if c.Duration > 0 && c.Duration < d {
		d = c.Duration
	}
	return d
}

// StreamsPerClientService is how many streams each client process opens
// on each service.
func (s *Scenario) StreamsPerClientService() int {
	return s.Clients.Streams / (s.Services.Count * s.Clients.Processes)
}
