package provision

import "context"

// MonitoringStatus is the environment's Prometheus as `dstload status`
// shows it: where it answers and how each of its scrape targets fares.
// A target's health does not make the environment unhealthy: a target is
// down because its component is (which the components say) or has not
// been scraped yet.
type MonitoringStatus struct {
	URL string `json:"url"`
	// Error says why the targets could not be read ("" when they were).
	Error   string         `json:"error,omitempty"`
	Targets []ScrapeTarget `json:"targets,omitempty"`
}

// ScrapeTarget is one active target of Prometheus' /api/v1/targets.
type ScrapeTarget struct {
	Job string `json:"job"`
	URL string `json:"url"`
	// Health is Prometheus' own: up, down or unknown (not scraped yet).
	Health     string `json:"health"`
	LastError  string `json:"lastError,omitempty"`
	LastScrape string `json:"lastScrape,omitempty"`
}

// MonitoringReporter is implemented by providers that run a Prometheus
// server themselves (local with --monitoring). nil means none runs.
type MonitoringReporter interface {
	MonitoringStatus(ctx context.Context, env Env, st *State) *MonitoringStatus
}
