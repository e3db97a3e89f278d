package local

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"

	"github.com/dstload/dstload/provision"
)

// MonitoringStatus reads the supervised Prometheus' active targets
// (/api/v1/targets); nil when the environment runs none.
func (p *Provider) MonitoringStatus(ctx context.Context, env provision.Env, st *provision.State) *provision.MonitoringStatus {
	url := PrometheusURL(st)
	if url == "" {
		return nil
	}
	ms := &provision.MonitoringStatus{URL: url}
	targets, err := ScrapeTargets(ctx, url)
	if err != nil {
		ms.Error = err.Error()
		return ms
	}
	ms.Targets = targets
	return ms
}

// GraphPage is the path of a Prometheus server's graph page: /graph, or
// /classic/graph where only the classic UI is built (Debian's package,
// whose /graph redirects there and drops the query).
func GraphPage(ctx context.Context, url string) string {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/classic/graph", nil)
	if err != nil {
		return "/graph"
	}
	// A redirect is not the page (a UI that moved it elsewhere).
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Do(req)
	if err != nil {
		return "/graph"
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return "/classic/graph"
	}
	return "/graph"
}

// ScrapeTargets lists a Prometheus server's active targets by job and URL.
func ScrapeTargets(ctx context.Context, url string) ([]provision.ScrapeTarget, error) {
	c, err := promapi.NewClient(promapi.Config{Address: url})
	if err != nil {
		return nil, fmt.Errorf("prometheus client: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	res, err := promv1.NewAPI(c).Targets(ctx)
	if err != nil {
		return nil, fmt.Errorf("prometheus targets: %w", err)
	}
	out := make([]provision.ScrapeTarget, 0, len(res.Active))
	for _, t := range res.Active {
		st := provision.ScrapeTarget{Job: string(t.Labels["job"]), URL: t.ScrapeURL, Health: string(t.Health), LastError: t.LastError}
		if !t.LastScrape.IsZero() {
			st.LastScrape = t.LastScrape.UTC().Format(time.RFC3339)
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Job != out[j].Job {
			return out[i].Job < out[j].Job
		}
		return out[i].URL < out[j].URL
	})
	return out, nil
}
