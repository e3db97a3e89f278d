package dstmetrics

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// destinationRegistry registers metrics named and labelled like the
// destination controller's (docs/architecture.md).
func destinationRegistry(t testing.TB) (*prometheus.Registry, *prometheus.GaugeVec, *prometheus.CounterVec) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collectors.NewGoCollector())
	subs := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "endpoints_subscribers"},
		[]string{"cluster", "namespace", "service", "port", "hostname", "nodename"})
	overflow := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "endpoint_updates_queue_overflow"}, []string{"service"})
	started := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "grpc_server_started_total"}, []string{"grpc_type", "grpc_service", "grpc_method"})
	handled := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "grpc_server_handled_total"}, []string{"grpc_type", "grpc_service", "grpc_method", "grpc_code"})
	sent := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "grpc_server_msg_sent_total"}, []string{"grpc_type", "grpc_service", "grpc_method"})
	reg.MustRegister(subs, overflow, started, handled, sent)

	// Since linkerd2 #15166 one series per filter group: node-a holds
	// svc-0 twice over, and a group that emptied reads 0 until removed.
	subs.WithLabelValues("local", "dst", "svc-0", "80", "", "node-a").Set(20)
	subs.WithLabelValues("local", "dst", "svc-0", "80", "", "node-b").Set(10)
	subs.WithLabelValues("local", "dst", "svc-1", "80", "", "node-a").Set(12)
	subs.WithLabelValues("local", "dst", "svc-1", "80", "", "node-c").Set(0)
	overflow.WithLabelValues("svc-0.dst.svc.cluster.local:80").Add(2)
	overflow.WithLabelValues("svc-1.dst.svc.cluster.local:80").Add(1)
	const svc, m = "io.linkerd.proxy.destination.Destination", "Get"
	started.WithLabelValues("server_stream", svc, m).Add(45)
	handled.WithLabelValues("server_stream", svc, m, "OK").Add(2)
	handled.WithLabelValues("server_stream", svc, m, "NotFound").Add(1)
	sent.WithLabelValues("server_stream", svc, m).Add(900)
	return reg, subs, overflow
}

// serve starts an HTTP server on 127.0.0.1 at a port chosen now.
func serve(t *testing.T, h http.Handler) (url string, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	stop = func() { srv.Close() }
	t.Cleanup(stop)
	return "http://" + ln.Addr().String() + "/metrics", stop
}

func TestScrape(t *testing.T) {
	// Burn some CPU so process_cpu_seconds_total (10ms ticks) is above 0.
	x := 0
	for end := time.Now().Add(50 * time.Millisecond); time.Now().Before(end); {
		x++
	}
	_ = x
	reg, _, _ := destinationRegistry(t)
	proto := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	// The text path: a server that ignores Accept, as older exporters do.
	text := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Del("Accept")
		proto.ServeHTTP(w, r)
	})
	for name, h := range map[string]http.Handler{"protobuf": proto, "text": text} {
		t.Run(name, func(t *testing.T) {
			url, _ := serve(t, h)
			s, err := Scrape(context.Background(), http.DefaultClient, url)
			if err != nil {
				t.Fatal(err)
			}
			checks := []struct {
				name      string
				got, want float64
			}{
				{"subscribers", s.Subscribers, 42},
				{"subscriber groups", float64(s.SubscriberGroups), 3},
				{"subscriber nodes", float64(s.SubscriberNodes), 2},
				{"subscribers on node-a", s.SubscribersByNode["node-a"], 32},
				{"subscribers on node-b", s.SubscribersByNode["node-b"], 10},
				{"overflows", s.QueueOverflows, 3},
				{"grpc started", s.GRPCStarted, 45},
				{"grpc handled", s.GRPCHandled, 3},
				{"grpc handled NotFound", s.GRPCHandledByCode["NotFound"], 1},
				{"grpc msg sent", s.GRPCMsgSent, 900},
			}
			for _, c := range checks {
				if c.got != c.want {
					t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
				}
			}
			// Real process metrics of this test process.
			if s.ResidentMemoryBytes < 1<<20 || s.HeapInuseBytes < 1<<18 || s.HeapInuseBytes > s.ResidentMemoryBytes || s.HeapAllocBytes <= 0 || s.HeapAllocBytes > s.HeapInuseBytes {
				t.Errorf("resident memory %v, heap in use %v: want this process's", s.ResidentMemoryBytes, s.HeapInuseBytes)
			}
			if s.Goroutines < 1 || s.StartTime < float64(time.Now().Add(-time.Hour).Unix()) {
				t.Errorf("goroutines %v start %v", s.Goroutines, s.StartTime)
			}
			if s.CPUSeconds <= 0 {
				t.Errorf("cpu seconds %v", s.CPUSeconds)
			}
		})
	}
}

func TestScrapeErrors(t *testing.T) {
	notFound, _ := serve(t, http.NotFoundHandler())
	garbage, _ := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		io.WriteString(w, "this is { not metrics\n")
	}))
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := "http://" + ln.Addr().String() + "/metrics"
	ln.Close()
	tests := []struct{ name, url, want string }{
		{"404", notFound, "HTTP 404"},
		{"garbage", garbage, "parse metrics"},
		{"nothing listening", closed, "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Scrape(context.Background(), http.DefaultClient, tt.url)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestSampler follows a controller that changes, then goes away: the series
// shows the change and the failed scrapes.
func TestSampler(t *testing.T) {
	reg, subs, _ := destinationRegistry(t)
	url, stop := serve(t, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	s := NewSampler(url, 20*time.Millisecond, slog.New(slog.NewTextHandler(os.Stderr, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()

	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; samples: %+v", what, s.Samples())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor("first sample", func() bool { _, ok := s.Latest(); return ok })
	if failing, _, _ := s.Health(); failing {
		t.Fatal("Health says failing while the scrapes succeed")
	}
	subs.WithLabelValues("local", "dst", "svc-2", "80", "", "").Set(8)
	waitFor("subscribers 50", func() bool { l, _ := s.Latest(); return l.Subscribers == 50 })
	stop()
	waitFor("a failed scrape", func() bool {
		all := s.Samples()
		return !all[len(all)-1].OK()
	})
	cancel()
	<-done

	all := s.Samples()
	for i := 1; i < len(all); i++ {
		if all[i].Time.Before(all[i-1].Time) {
			t.Fatalf("samples out of order at %d", i)
		}
	}
	if l, ok := s.Latest(); !ok || l.Subscribers != 50 {
		t.Fatalf("Latest = %+v, %v; want the last good sample", l, ok)
	}
	// Health names the first failure after the last success.
	failing, since, msg := s.Health()
	var first time.Time
	for i := len(all) - 1; i >= 0 && !all[i].OK(); i-- {
		first = all[i].Time
	}
	if !failing || !since.Equal(first) || msg == "" {
		t.Fatalf("Health = %v %v %q, want failing since %v", failing, since, msg, first)
	}
}

func TestFetchHeapProfile(t *testing.T) {
	// A live heap of known size: 64 MiB in 1 MiB objects held until the
	// profile is taken (the runtime samples every 512 KiB on average, so
	// the estimate is close to, not exactly, 64 MiB).
	hold := make([][]byte, 64)
	for i := range hold {
		hold[i] = make([]byte, 1<<20)
	}
	mux := http.NewServeMux()
	mux.Handle("/debug/pprof/heap", pprof.Handler("heap"))
	url, _ := serve(t, mux)
	hp, err := FetchHeapProfile(context.Background(), http.DefaultClient, url)
	if err != nil {
		t.Fatal(err)
	}
	if hp.InuseBytes < 48<<20 || hp.InuseBytes > 256<<20 || len(hp.Raw) == 0 {
		t.Errorf("inuse %v bytes (want about 64 MiB), raw %d bytes", hp.InuseBytes, len(hp.Raw))
	}
	runtime.KeepAlive(hold)

	none, _ := serve(t, http.NotFoundHandler())
	if _, err := FetchHeapProfile(context.Background(), http.DefaultClient, none); !errors.Is(err, ErrNoPprof) {
		t.Errorf("no pprof: err %v, want ErrNoPprof", err)
	}
}

// BenchmarkDecode compares decoding the whole protobuf exposition with
// expfmt (what Scrape did) with decodeDelimited, on a /metrics shaped
// like the controller's at full size: the sampled families plus client-go
// request and informer histograms it does not keep.
func BenchmarkDecode(b *testing.B) {
	reg, subs, _ := destinationRegistry(b)
	for i := range 100 {
		subs.WithLabelValues("local", "dst", fmt.Sprintf("svc-%d", i%10), "80", "", fmt.Sprintf("node-%d", i/10)).Set(float64(i))
	}
	req := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "http_client_request_latency_seconds", Buckets: prometheus.DefBuckets},
		[]string{"verb", "host"})
	lag := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "informer_lag_seconds", Buckets: prometheus.DefBuckets}, []string{"informer"})
	reg.MustRegister(req, lag)
	for i := range 12 {
		req.WithLabelValues([]string{"GET", "LIST", "WATCH"}[i%3], fmt.Sprintf("127.0.0.1:%d", 6443+i)).Observe(0.01 * float64(i))
		lag.WithLabelValues(fmt.Sprintf("informer-%d", i)).Observe(0.2)
	}
	var body bytes.Buffer
	enc := expfmt.NewEncoder(&body, expfmt.NewFormat(expfmt.TypeProtoDelim))
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("expfmt all families", func(b *testing.B) {
		for b.Loop() {
			dec := expfmt.NewDecoder(bytes.NewReader(body.Bytes()), expfmt.NewFormat(expfmt.TypeProtoDelim))
			var s Sample
			for {
				var mf dto.MetricFamily
				if err := dec.Decode(&mf); err != nil {
					break
				}
				s.add(&mf)
			}
		}
	})
	b.Run("sampled families", func(b *testing.B) {
		for b.Loop() {
			var s Sample
			if err := decodeDelimited(bytes.NewReader(body.Bytes()), &s); err != nil {
				b.Fatal(err)
			}
		}
	})
}
