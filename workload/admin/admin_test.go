package admin

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dstload/dstload/internal/testutil"
	"github.com/dstload/dstload/workload/record"
)

func TestEndpoints(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "dstload_test_total", Help: "test"})
	reg.MustRegister(c)
	c.Add(3)
	var ready atomic.Bool
	h := Handlers{
		Registry: reg,
		Ready: func() error {
			if !ready.Load() {
				return errors.New("2 of 5 streams opened")
			}
			return nil
		},
		Records: func() record.Set { return record.Set{ScaleEvents: []record.ScaleEvent{{Service: "ns/a", Seq: 7}}} },
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, done, err := Serve(ctx, testutil.Discard(), "127.0.0.1:0", h.Mux())
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr.String() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	tests := []struct {
		path   string
		before func()
		code   int
		body   string
	}{
		{"/live", nil, 200, "ok"},
		{"/ready", nil, 503, "2 of 5 streams opened"},
		{"/ready", func() { ready.Store(true) }, 200, "ok"},
		{"/metrics", nil, 200, "dstload_test_total 3"},
		{"/records", nil, 200, `"seq":7`},
	}
	for _, tt := range tests {
		if tt.before != nil {
			tt.before()
		}
		code, body := get(tt.path)
		if code != tt.code || !strings.Contains(body, tt.body) {
			t.Errorf("GET %s = %d %q, want %d containing %q", tt.path, code, body, tt.code, tt.body)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve: %v", err)
	}
}
