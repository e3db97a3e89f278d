package client

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	pb "github.com/linkerd/linkerd2-proxy-api/go/destination"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/dstload/dstload/internal/dsttest"
	"github.com/dstload/dstload/internal/testutil"
)

// The benchmarks run the Destination server in a child process (this test
// binary re-executed with benchServerEnv set), so memory and CPU measured
// here are the client's alone. The child reads commands on stdin:
//
//	toggle N INTERVAL   N times: add (odd: remove) one extra endpoint on
//	                    every service, sleeping INTERVAL between; answers "ok"
const benchServerEnv = "DSTLOAD_BENCH_SERVER"

func TestMain(m *testing.M) {
	if spec := os.Getenv(benchServerEnv); spec != "" {
		if err := runBenchServer(spec); err != nil {
			fmt.Fprintln(os.Stderr, "bench server:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runBenchServer serves spec = "SERVICES ENDPOINTS STAMP" on loopback.
func runBenchServer(spec string) error {
	var services, endpoints int
	var stamp bool
	if _, err := fmt.Sscanf(spec, "%d %d %t", &services, &endpoints, &stamp); err != nil {
		return fmt.Errorf("spec %q: %w", spec, err)
	}
	srv := dsttest.NewServer(dsttest.Options{Stamp: stamp, QueueCapacity: 1 << 16})
	base := make([][]netip.AddrPort, services)
	for i := range services {
		for j := range endpoints {
			base[i] = append(base[i], netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), byte(j + 1)}), 8080))
		}
		srv.SetEndpoints(fmt.Sprintf("bench/svc-%d", i), 80, base[i])
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	g := grpc.NewServer()
	srv.Register(g)
	go func() { _ = g.Serve(ln) }()
	fmt.Println(ln.Addr().String())
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		var n int
		var interval time.Duration
		f := strings.Fields(sc.Text())
		if len(f) != 3 || f[0] != "toggle" {
			return fmt.Errorf("bad command %q", sc.Text())
		}
		if n, err = strconv.Atoi(f[1]); err != nil {
			return err
		}
		if interval, err = time.ParseDuration(f[2]); err != nil {
			return err
		}
		for k := range n {
			for i := range services {
				eps := base[i]
				if k%2 == 0 {
					extra := netip.AddrPortFrom(netip.AddrFrom4([4]byte{11, byte(i >> 8), byte(i), 1}), 8080)
					eps = append(slices.Clip(eps), extra)
				}
				srv.SetEndpoints(fmt.Sprintf("bench/svc-%d", i), 80, eps)
			}
			if interval > 0 {
				time.Sleep(interval)
			}
		}
		fmt.Println("ok")
	}
	g.Stop()
	return nil
}

type benchServer struct {
	addr string
	in   *bufio.Writer
	out  *bufio.Scanner
	cmd  *exec.Cmd
}

func startBenchServer(b *testing.B, services, endpoints int, stamp bool) *benchServer {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d %d %t", benchServerEnv, services, endpoints, stamp))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			_ = cmd.Process.Kill()
		}
	})
	s := &benchServer{in: bufio.NewWriter(stdin), out: bufio.NewScanner(stdout), cmd: cmd}
	if !s.out.Scan() {
		b.Fatal("bench server did not start")
	}
	s.addr = s.out.Text()
	return s
}

// toggle makes the server send n updates to every stream and returns once
// it queued them all.
func (s *benchServer) toggle(b *testing.B, n int, interval time.Duration) {
	b.Helper()
	fmt.Fprintf(s.in, "toggle %d %s\n", n, interval)
	if err := s.in.Flush(); err != nil {
		b.Fatal(err)
	}
	if !s.out.Scan() || s.out.Text() != "ok" {
		b.Fatalf("toggle: %q %v", s.out.Text(), s.out.Err())
	}
}

func benchServices(n int) []Service {
	out := make([]Service, n)
	for i := range out {
		out[i] = Service{Namespace: "bench", Name: fmt.Sprintf("svc-%d", i), Port: 80}
	}
	return out
}

func memStats() runtime.MemStats {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m
}

// BenchmarkIdleStreams: memory per open idle stream, 10,000 streams (100
// services x 100 streams, 10 endpoints each) in this process over 2
// connections; grpc-go's own per-stream state is included.
func BenchmarkIdleStreams(b *testing.B) {
	const services, per, endpoints = 100, 100, 10
	srv := startBenchServer(b, services, endpoints, false)
	for b.Loop() {
		before := memStats()
		g0 := runtime.NumGoroutine()
		c, err := New(Options{Name: "bench", Addr: srv.addr, Services: benchServices(services), StreamsPerService: per,
			Connections: 2, SampleStreams: 100}, testutil.Discard(), prometheus.NewRegistry())
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = c.Run(ctx); close(done) }()
		deadline := time.Now().Add(2 * time.Minute)
		for c.Stats().Updates < services*per {
			if time.Now().After(deadline) {
				b.Fatalf("only %d of %d snapshots after 2 minutes", c.Stats().Updates, services*per)
			}
			time.Sleep(50 * time.Millisecond)
		}
		after := memStats()
		gs := runtime.NumGoroutine() - g0
		heap := float64(after.HeapAlloc) - float64(before.HeapAlloc)
		stack := float64(after.StackInuse) - float64(before.StackInuse)
		b.ReportMetric((heap+stack)/float64(services*per), "bytes/stream")
		b.ReportMetric(heap/float64(services*per), "heap-bytes/stream")
		b.ReportMetric(stack/float64(services*per), "stack-bytes/stream")
		b.ReportMetric(float64(gs)/float64(services*per), "goroutines/stream")
		cancel()
		<-done
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// bareLoop opens the same streams and only calls Recv, counting messages
// and, when stamps are on, the latency from the server's send.
func bareLoop(ctx context.Context, b *testing.B, addr string, services []Service, per, conns int, count *atomic.Uint64, lat *latencies) func() {
	var wg sync.WaitGroup
	var ccs []*grpc.ClientConn
	for range conns {
		cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			b.Fatal(err)
		}
		ccs = append(ccs, cc)
	}
	n := 0
	for _, s := range services {
		req := &pb.GetDestination{Scheme: "k8s", Path: fmt.Sprintf("%s.%s.svc.cluster.local:%d", s.Name, s.Namespace, s.Port)}
		for range per {
			dst := pb.NewDestinationClient(ccs[n%conns])
			n++
			wg.Go(func() {
				st, err := dst.Get(ctx, req)
				if err != nil {
					return
				}
				for {
					u, err := st.Recv()
					if err != nil {
						return
					}
					if lat != nil {
						lat.add(u, time.Now())
					}
					count.Add(1)
				}
			})
		}
	}
	return func() {
		wg.Wait()
		for _, cc := range ccs {
			cc.Close()
		}
	}
}

// latencies collects receive time - server send stamp of stamped Adds.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(u *pb.Update, at time.Time) {
	s := u.GetAdd().GetMetricLabels()[dsttest.StampLabel]
	if s == "" {
		return
	}
	ns, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return
	}
	l.mu.Lock()
	l.d = append(l.d, at.Sub(time.Unix(0, ns)))
	l.mu.Unlock()
}

func (l *latencies) quantile(q float64) time.Duration {
	slices.Sort(l.d)
	if len(l.d) == 0 {
		return 0
	}
	return l.d[int(q*float64(len(l.d)-1))]
}

func waitCount(b *testing.B, what string, get func() uint64, want uint64) {
	b.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for get() < want {
		if time.Now().After(deadline) {
			b.Fatalf("%s: %d of %d updates", what, get(), want)
		}
		time.Sleep(time.Millisecond)
	}
}

// round runs the bare loop, then dstload's client (default sampling: 100
// streams record receipts), over the same streams on the same server, each
// receiving toggles updates per stream; it returns their CPU per update.
func round(b *testing.B, srv *benchServer, svcs []Service, per, conns, toggles int, interval time.Duration, bareLat, instLat *latencies) (bareNs, instNs float64) {
	want := uint64(toggles * len(svcs) * per)
	var count atomic.Uint64
	ctx, cancel := context.WithCancel(context.Background())
	wait := bareLoop(ctx, b, srv.addr, svcs, per, conns, &count, bareLat)
	waitCount(b, "bare snapshots", count.Load, uint64(len(svcs)*per))
	if bareLat != nil {
		bareLat.reset()
	}
	c0, n0 := cpuTime(), count.Load()
	srv.toggle(b, toggles, interval)
	waitCount(b, "bare", count.Load, n0+want)
	bareNs = float64(cpuTime()-c0) / float64(count.Load()-n0)
	cancel()
	wait()

	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	c, err := New(Options{Name: "bench", Addr: srv.addr, Services: svcs, StreamsPerService: per, Connections: conns,
		SampleStreams: 100, OnReceive: onReceive(instLat)},
		testutil.Discard(), prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = c.Run(ctx); close(done) }()
	updates := func() uint64 { return c.Stats().Updates }
	waitCount(b, "client snapshots", updates, uint64(len(svcs)*per))
	if instLat != nil {
		instLat.reset()
	}
	c0, n0 = cpuTime(), updates()
	srv.toggle(b, toggles, interval)
	waitCount(b, "client", updates, n0+want)
	instNs = float64(cpuTime()-c0) / float64(updates()-n0)
	cancel()
	<-done
	return bareNs, instNs
}

func (l *latencies) reset() {
	l.mu.Lock()
	l.d = l.d[:0]
	l.mu.Unlock()
}

// BenchmarkUpdateCPU: client CPU per received update, dstload's client
// against a bare loop that only calls Recv, on the same server in the same
// run: 1,000 streams (10 services x 100) on 2 connections, 400 updates per
// stream sent as fast as the receiver takes them. Reports both and the
// ratio.
func BenchmarkUpdateCPU(b *testing.B) {
	const services, per, conns, toggles = 10, 100, 2, 400
	srv := startBenchServer(b, services, 10, false)
	svcs := benchServices(services)
	var bareNs, instNs float64
	for b.Loop() {
		bn, in := round(b, srv, svcs, per, conns, toggles, 2*time.Millisecond, nil, nil)
		bareNs += bn
		instNs += in
	}
	n := float64(b.N)
	b.ReportMetric(bareNs/n, "bare-cpu-ns/update")
	b.ReportMetric(instNs/n, "dstload-cpu-ns/update")
	b.ReportMetric(instNs/bareNs, "cpu-ratio")
}

// BenchmarkInstrumentLatency: the latency the instrument itself adds. The
// server stamps each Add with its send time; the bare loop timestamps
// after Recv, dstload's client when it records the receipt. Same streams
// server as BenchmarkUpdateCPU but 100 streams (10 services x 10) and one
// update per stream every 10ms, a load both receivers keep up with, so the
// numbers are latency rather than a backlog or the server's fan-out burst.
func BenchmarkInstrumentLatency(b *testing.B) {
	const services, per, conns, toggles = 10, 10, 2, 300
	srv := startBenchServer(b, services, 10, true)
	svcs := benchServices(services)
	var bareLat, instLat latencies
	for b.Loop() {
		round(b, srv, svcs, per, conns, toggles, 10*time.Millisecond, &bareLat, &instLat)
	}
	for _, q := range []struct {
		q    float64
		name string
	}{{0.5, "p50"}, {0.99, "p99"}} {
		bare, inst := bareLat.quantile(q.q), instLat.quantile(q.q)
		b.ReportMetric(float64(bare.Microseconds()), "bare-"+q.name+"-µs")
		b.ReportMetric(float64(inst.Microseconds()), "dstload-"+q.name+"-µs")
		b.ReportMetric(float64((inst - bare).Microseconds()), "added-"+q.name+"-µs")
	}
}

func onReceive(l *latencies) func(uint32, []byte, time.Time) {
	if l == nil {
		return nil
	}
	return func(_ uint32, raw []byte, at time.Time) {
		var u pb.Update
		if proto.Unmarshal(raw, &u) == nil {
			l.add(&u, at)
		}
	}
}
