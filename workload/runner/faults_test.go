package runner

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// TestFaultWatch drives the watch against an API server that stops being
// ready (the path k3d and kubeconfig take: no supervised processes) and
// against a process check: what it names, and how soon.
func TestFaultWatch(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// readyz answers after the API server "fails" (0: connection
		// closed; -1: no answer before the probe's timeout).
		status    int
		body      string
		down      []ComponentDown
		component string
		detail    string
		// minAfter is the least time between the failure and the fault.
		minAfter, maxAfter time.Duration
	}{
		{name: "etcd behind a live API server", status: http.StatusInternalServerError,
			body:      "[+]ping ok\n[-]etcd failed: reason withheld\n[+]log ok\nreadyz check failed\n",
			component: "etcd", detail: "etcd failed: reason withheld", minAfter: apiGrace, maxAfter: apiGrace + 3*time.Second},
		{name: "API server gone", status: 0,
			component: "kube-apiserver", detail: "/readyz failing for 4s", minAfter: apiGrace, maxAfter: apiGrace + 3*time.Second},
		{name: "API server not ready", status: http.StatusServiceUnavailable, body: "[-]informer-sync failed\n",
			component: "kube-apiserver", detail: "/readyz failing", minAfter: apiGrace, maxAfter: apiGrace + 3*time.Second},
		// A live but saturated API server: not a fault at apiGrace, one
		// after the (here shortened) slow grace.
		{name: "API server not answering", status: -1,
			component: "kube-apiserver", detail: "/readyz unanswered for 6s", minAfter: testSlowGrace, maxAfter: testSlowGrace + probeTimeout + 2*time.Second},
		{name: "API server shedding load", status: http.StatusTooManyRequests, body: `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"TooManyRequests","code":429}`,
			component: "kube-apiserver", detail: "/readyz unanswered for 6s", minAfter: testSlowGrace, maxAfter: testSlowGrace + 2*time.Second},
		{name: "API server refusing the probe", status: http.StatusForbidden,
			body:     `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Forbidden","code":403}`,
			maxAfter: apiGrace + 2*time.Second},
		{name: "a process exited", status: http.StatusOK,
			down:      []ComponentDown{{Name: "kube-scheduler", Detail: "its process (pid 7) is not running"}},
			component: "kube-scheduler", detail: "pid 7", maxAfter: 2 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var failed atomic.Bool
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				if req.URL.Path != "/readyz" {
					http.NotFound(w, req)
					return
				}
				if !failed.Load() {
					io.WriteString(w, "ok")
					return
				}
				if tc.status == -1 {
					select {
					case <-req.Context().Done():
					case <-time.After(probeTimeout + time.Second):
					}
					return
				}
				if tc.status == 0 {
					hj, _ := w.(http.Hijacker)
					conn, _, _ := hj.Hijack()
					conn.Close()
					return
				}
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			cs, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL})
			if err != nil {
				t.Fatal(err)
			}
			var down atomic.Bool
			r := &run{cfg: Config{Progress: io.Discard, Log: testLog(t), Components: func() []ComponentDown {
				if down.Load() {
					return tc.down
				}
				return nil
			}}, cs: cs, started: time.Now(), apiSlowGrace: testSlowGrace}
			ctx, cancel := context.WithCancelCause(context.Background())
			w := r.watchFaults(ctx, cancel)
			time.Sleep(1500 * time.Millisecond)
			if ctx.Err() != nil {
				t.Fatalf("fault while everything was up: %v", w.stop())
			}
			failedAt := time.Now()
			failed.Store(true)
			down.Store(true)
			select {
			case <-ctx.Done():
			case <-time.After(tc.maxAfter + time.Second):
			}
			f := w.stop()
			if tc.component == "" {
				// Refused, not failing: no fault, however long.
				if f != nil {
					t.Fatalf("fault %+v from a refused probe", f)
				}
				return
			}
			if f == nil {
				t.Fatalf("no fault within %s", tc.maxAfter+time.Second)
			}
			after := f.Noticed.Sub(failedAt)
			if f.Component != tc.component || !strings.Contains(f.Detail, tc.detail) || after < tc.minAfter || after > tc.maxAfter || f.Repair == "" {
				t.Errorf("fault %+v noticed %s after the failure, want %s (%q) in [%s, %s]", f, after, tc.component, tc.detail, tc.minAfter, tc.maxAfter)
			}
			if f.UnderTest || f.Since.After(f.Noticed) || f.Since.Before(failedAt.Add(-time.Second)) {
				t.Errorf("fault %+v: since %s, failed at %s", f, f.Since, failedAt)
			}
			if !strings.Contains(f.Repair, "dstload up") || apiDown(f) != strings.Contains(f.Repair, "--cleanup") {
				t.Errorf("repair %q for %s", f.Repair, f.Component)
			}
			if context.Cause(ctx) != errFault {
				t.Errorf("load stopped with %v, want errFault", context.Cause(ctx))
			}
		})
	}
}

const testSlowGrace = 6 * time.Second

// TestFaultWatchDestination: a destination process gone is a fault of
// the system under test only once its metrics fail too.
func TestFaultWatchDestination(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { io.WriteString(w, "ok") }))
	defer srv.Close()
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	r := &run{cfg: Config{Progress: io.Discard, Log: testLog(t), Components: func() []ComponentDown {
		return []ComponentDown{{Name: DestinationComponent, Detail: "its process (pid 9) is not running"}}
	}}, cs: cs, started: time.Now()}
	f := (&faultWatch{r: r, cs: cs, components: r.cfg.Components}).check(context.Background())
	// Not sampled: the process check alone decides.
	if f == nil || !f.UnderTest || f.Component != DestinationComponent {
		t.Fatalf("unsampled destination gone: %+v", f)
	}
}
