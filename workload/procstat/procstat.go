// Package procstat measures what a dstload workload process costs and how
// promptly it runs: its CPU time, and how late a short ticker fires
// (scheduling delay). Both go into the report's instrument section: a
// process that is starved of CPU takes its timestamps late, and the
// report must say by how much that could bend a latency.
package procstat

import (
	"bufio"
	"context"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/dstload/dstload/workload/record"
)

// Tick is the period of the lateness probe. How late a timer fires does
// not depend on its period, so 20 samples a second give the same
// percentiles as 100 did; the 80 wake-ups a second saved were a third of
// an idle observer's CPU (README, "Where dstload's CPU goes").
const Tick = 50 * time.Millisecond

// Meter measures one process from Start until Stop.
type Meter struct {
	name    string
	started time.Time
	cpu0    float64
	cancel  context.CancelFunc
	done    chan struct{}

	mu   sync.Mutex
	late []float64 // seconds per tick
}

// Start begins measuring this process under name ("observer", "clients").
func Start(ctx context.Context, name string) *Meter {
	ctx, cancel := context.WithCancel(ctx)
	m := &Meter{name: name, started: time.Now(), cpu0: CPUSeconds(), cancel: cancel, done: make(chan struct{})}
	go m.probe(ctx)
	return m
}

// probe sleeps Tick at a time and records how much later than asked it
// woke up. A timer rather than a ticker: a ticker drops ticks under load
// and would hide the worst delays.
func (m *Meter) probe(ctx context.Context) {
	defer close(m.done)
	t := time.NewTimer(Tick)
	defer t.Stop()
	want := time.Now().Add(Tick)
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			late := max(now.Sub(want), 0)
			m.mu.Lock()
			m.late = append(m.late, late.Seconds())
			m.mu.Unlock()
			want = time.Now().Add(Tick)
			t.Reset(Tick)
		}
	}
}

// Stop ends the measurement and returns it as a record.
func (m *Meter) Stop() record.ProcessStat {
	m.cancel()
	<-m.done
	m.mu.Lock()
	defer m.mu.Unlock()
	s := record.ProcessStat{
		Process:     m.name,
		CPUSeconds:  CPUSeconds() - m.cpu0,
		WallSeconds: time.Since(m.started).Seconds(),
		Ticks:       len(m.late),
	}
	if len(m.late) > 0 {
		l := append([]float64(nil), m.late...)
		sort.Float64s(l)
		s.TickLatenessP50 = l[(len(l)-1)/2]
		s.TickLatenessP99 = l[min(len(l)-1, len(l)*99/100)]
		s.TickLatenessMax = l[len(l)-1]
	}
	return s
}

// CPUSeconds is this process's user + system CPU time so far.
func CPUSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return tv(ru.Utime) + tv(ru.Stime)
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

// HostCPU is a snapshot of the host's CPU time counters (/proc/stat), in
// clock ticks: busy (everything but idle and iowait) and total.
type HostCPU struct{ Busy, Total uint64 }

// ReadHostCPU reads the counters; ok is false where /proc/stat is missing.
func ReadHostCPU() (h HostCPU, ok bool) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return h, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return h, false
	}
	fields := strings.Fields(sc.Text())
	if len(fields) < 5 || fields[0] != "cpu" {
		return h, false
	}
	for i, f := range fields[1:] {
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return h, false
		}
		// guest and guest_nice are already in user and nice.
		if i >= 8 {
			break
		}
		h.Total += v
		if i != 3 && i != 4 { // idle, iowait
			h.Busy += v
		}
	}
	return h, true
}

// BusySince is the busy share of the host's CPU since an earlier snapshot
// (0 when no time passed).
func (h HostCPU) BusySince(earlier HostCPU) float64 {
	if h.Total <= earlier.Total {
		return 0
	}
	return float64(h.Busy-earlier.Busy) / float64(h.Total-earlier.Total)
}
