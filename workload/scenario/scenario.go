// Package scenario holds dstload's scenario files: what a run deploys, how it
// churns, how many streams it opens and which criteria judge it. Files
// are strict YAML: unknown fields are errors, and every
// error names the field.
package scenario

import (
	"fmt"
	"reflect"
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
	// Multicluster, when set, runs on a linked pair of clusters
	// (multicluster.go); "" is one cluster.
	Multicluster string `yaml:"multicluster"`

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
