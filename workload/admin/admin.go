// Package admin serves what every workload process exposes on its HTTP
// port: /metrics (Prometheus), /ready, /live and /records (record.Set as
// JSON), plus process-specific handlers such as churn's /events.
package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/dstload/dstload/workload/record"
)

// Handlers are the parts of a process the admin port shows.
type Handlers struct {
	Registry *prometheus.Registry
	// Ready returns nil once the process does its job (streams open,
	// informers synced); /ready answers 503 with the error otherwise.
	Ready func() error
	// Records returns a snapshot of the process's records.
	Records func() record.Set
	// Extra maps more paths to handlers.
	Extra map[string]http.Handler
}

// Mux builds the HTTP handler.
func (h Handlers) Mux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(h.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /live", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, r *http.Request) {
		if h.Ready != nil {
			if err := h.Ready(); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		fmt.Fprintln(w, "ok")
	})
	if h.Records != nil {
		mux.HandleFunc("GET /records", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_ = record.Write(w, h.Records())
		})
	}
	for p, hh := range h.Extra {
		mux.Handle(p, hh)
	}
	return mux
}

// Serve listens on addr and serves h until ctx ends. It returns the bound
// address (addr may use port 0) and a channel that yields the serve error
// (nil after a clean shutdown) once the server stopped.
func Serve(ctx context.Context, log *slog.Logger, addr string, h http.Handler) (net.Addr, <-chan error, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() {
		err := srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		done <- err
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			log.Debug("admin server shutdown", "err", err)
			_ = srv.Close()
		}
	}()
	log.Info("admin server listening", "addr", ln.Addr().String())
	return ln.Addr(), done, nil
}
