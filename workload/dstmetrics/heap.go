package dstmetrics

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/google/pprof/profile"
)

// ErrNoPprof is HeapProfile's error when the controller serves no pprof:
// Linkerd's admin server serves /debug/pprof/ only with -enable-pprof (the
// chart passes it; `dstload up --provider local` passes it too).
var ErrNoPprof = errors.New("the destination controller serves no /debug/pprof/heap (started without -enable-pprof?)")

// HeapProfile is one heap profile of the controller.
type HeapProfile struct {
	// InuseBytes is the profile's inuse_space total: the live heap as of
	// the garbage collection the profile asked for (sampled by the Go
	// runtime, every 512 KiB allocated on average, and scaled up).
	InuseBytes float64
	// Raw is the profile as served (gzipped protobuf, `go tool pprof`'s
	// input).
	Raw []byte
}

// PprofURL derives the heap profile's URL from the controller's /metrics
// URL: both are on its admin server.
func PprofURL(metricsURL string) (string, error) {
	u, err := url.Parse(metricsURL)
	if err != nil {
		return "", fmt.Errorf("metrics URL %q: %w", metricsURL, err)
	}
	u.Path, u.RawQuery = "/debug/pprof/heap", "gc=1"
	return u.String(), nil
}

// FetchHeapProfile asks the controller's admin server for a heap profile
// after a forced garbage collection (gc=1), so that InuseBytes is what is
// live, not what is waiting for the next cycle.
func FetchHeapProfile(ctx context.Context, client *http.Client, metricsURL string) (HeapProfile, error) {
	u, err := PprofURL(metricsURL)
	if err != nil {
		return HeapProfile{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return HeapProfile{}, fmt.Errorf("heap profile %s: %w", u, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return HeapProfile{}, fmt.Errorf("heap profile %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return HeapProfile{}, ErrNoPprof
	}
	if resp.StatusCode != http.StatusOK {
		return HeapProfile{}, fmt.Errorf("heap profile %s: HTTP %s", u, resp.Status)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return HeapProfile{}, fmt.Errorf("heap profile %s: %w", u, err)
	}
	p, err := profile.Parse(bytes.NewReader(raw))
	if err != nil {
		return HeapProfile{}, fmt.Errorf("heap profile %s: parse: %w", u, err)
	}
	idx := -1
	for i, st := range p.SampleType {
		if st.Type == "inuse_space" {
			idx = i
		}
	}
	if idx < 0 {
		return HeapProfile{}, fmt.Errorf("heap profile %s: no inuse_space sample type", u)
	}
	var total float64
	for _, s := range p.Sample {
		total += float64(s.Value[idx])
	}
	return HeapProfile{InuseBytes: total, Raw: raw}, nil
}
