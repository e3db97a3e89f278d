package scenario

import (
	"fmt"
	"regexp"
)

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
	if err := s.validateMulticluster(); err != nil {
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
