package scenario

import (
	"fmt"
	"strings"
	"time"
)

// Shape is the one-line description `dstload scenarios` prints.
func (s *Scenario) Shape() string {
	var b strings.Builder
	if s.Multicluster != "" {
		// Where the endpoints and the clients are, first: it is what such a
		// scenario measures.
		where := "targets in the target cluster"
		if s.Multicluster == Federated {
			where = "members in both clusters, churn in each"
		}
		fmt.Fprintf(&b, "%s (%s, clients in the source): ", s.Multicluster, where)
	}
	c := s.Churn
	if c.Pattern == PatternOscillate {
		fmt.Fprintf(&b, "%d svc oscillating %d<->%d, hold %s/%s", s.Services.Count, c.Min, c.Max, short(c.HoldMax), short(c.HoldMin))
		if c.Jitter > 0 {
			fmt.Fprintf(&b, ", jitter 0-%s", short(c.Jitter))
		}
		if c.Cycles > 0 {
			fmt.Fprintf(&b, ", %d cycles", c.Cycles)
		}
		if c.Duration > 0 {
			fmt.Fprintf(&b, ", at most %s", short(c.Duration))
		}
	} else if s.Sweep != nil {
		fmt.Fprintf(&b, "%d svc x %d endpoints, no churn", s.Services.Count, s.Services.Endpoints)
	} else {
		fmt.Fprintf(&b, "%d svc x %d endpoints, no churn, held %s", s.Services.Count, s.Services.Endpoints, short(c.Duration))
	}
	if s.Sweep != nil {
		fmt.Fprintf(&b, "; streams stepped %s", s.Sweep.stepsText())
	} else {
		fmt.Fprintf(&b, "; %d streams", s.Clients.Streams)
	}
	if s.Clients.Processes > 1 {
		fmt.Fprintf(&b, " (%d client processes on %s", s.Clients.Processes, plural(s.ClientNodes(), "node"))
		if s.Clients.Zones > 0 {
			fmt.Fprintf(&b, " in %d zones", s.Clients.Zones)
		}
		b.WriteString(")")
	}
	return b.String()
}

// CriteriaSummary joins the criteria as people read them.
func (s *Scenario) CriteriaSummary() string {
	parts := make([]string, len(s.Criteria))
	for i, c := range s.Criteria {
		parts[i] = c.String()
	}
	return strings.Join(parts, ", ")
}

// short prints 2m0s as 2m and 1m30s as 1m30s.
func short(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
