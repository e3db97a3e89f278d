package runner

import (
	"context"
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dstload/dstload/workload/admin"
)

// Monitoring is the environment's Prometheus server (local --monitoring).
type Monitoring struct {
	// URL is its base URL; the report links the run's window to its
	// GraphPage ("" = /graph).
	URL, GraphPage string
	// ScrapeTargets is told the run's processes to scrape, by component
	// label ("clients", "observer") and host:port, once they serve, and
	// nil once they stopped (cmd writes Prometheus' file_sd file).
	ScrapeTargets func(addrs map[string]string) error
}

// runTargets serves the in-process workload's registry (clients, churn)
// on loopback and publishes it with the observer's admin address; the
// returned func withdraws them (once; safe to call again).
func runTargets(ctx context.Context, cfg Config, reg *prometheus.Registry, observerAdmins map[string]string) (func(), error) {
	m := cfg.Monitoring
	if m == nil || m.ScrapeTargets == nil {
		return func() {}, nil
	}
	sctx, stop := context.WithCancel(ctx)
	addr, _, err := admin.Serve(sctx, cfg.Log, "127.0.0.1:0", admin.Handlers{Registry: reg}.Mux())
	if err != nil {
		stop()
		return nil, fmt.Errorf("metrics for prometheus: %w", err)
	}
	addrs := map[string]string{"clients": addr.String()}
	for name, a := range observerAdmins {
		if a != "" {
			addrs[name] = a
		}
	}
	if err := m.ScrapeTargets(addrs); err != nil {
		stop()
		return nil, err
	}
	return sync.OnceFunc(func() {
		if err := m.ScrapeTargets(nil); err != nil {
			cfg.Log.Warn("prometheus scrape targets not withdrawn", "err", err)
		}
		stop()
	}), nil
}
