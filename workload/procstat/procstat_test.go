package procstat

import (
	"context"
	"runtime"
	"testing"
	"time"
)

// TestMeter: CPU burnt between Start and Stop is counted, and the probe
// ticks and records its lateness.
func TestMeter(t *testing.T) {
	m := Start(context.Background(), "test")
	deadline := time.Now().Add(6 * Tick)
	x := 0
	for time.Now().Before(deadline) {
		x++
	}
	s := m.Stop()
	if s.Process != "test" || s.CPUSeconds < 0.1 || s.WallSeconds < (6*Tick).Seconds() {
		t.Errorf("stat %+v (spun %d)", s, x)
	}
	if s.Ticks < 3 || s.TickLatenessMax < s.TickLatenessP99 || s.TickLatenessP99 < s.TickLatenessP50 || s.TickLatenessP50 < 0 {
		t.Errorf("ticks %+v", s)
	}
}

func TestHostCPU(t *testing.T) {
	a, ok := ReadHostCPU()
	if !ok {
		t.Skip("no /proc/stat")
	}
	deadline := time.Now().Add(100 * time.Millisecond)
	for time.Now().Before(deadline) {
	}
	b, _ := ReadHostCPU()
	if busy := b.BusySince(a); busy <= 0 || busy > 1 || a.Busy > a.Total {
		t.Errorf("busy %v (%+v -> %+v)", busy, a, b)
	}
	if (HostCPU{}).BusySince(b) != 0 {
		t.Error("a snapshot before an earlier one must give 0")
	}
}

// TestLimitProcs: a hold lowers GOMAXPROCS to one P per StreamsPerProc
// streams (never more than there are), overlapping holds share it, and
// the last release restores the setting.
func TestLimitProcs(t *testing.T) {
	before := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(before)
	runtime.GOMAXPROCS(4)
	tests := []struct {
		streams, want int
	}{
		{1, 1}, {StreamsPerProc, 1}, {StreamsPerProc + 1, 2}, {100 * StreamsPerProc, 4},
	}
	for _, tt := range tests {
		if runtime.NumCPU() < tt.want {
			continue // a machine with fewer CPUs caps it lower
		}
		release := LimitProcs(tt.streams)
		got := runtime.GOMAXPROCS(0)
		release()
		release() // a second call changes nothing
		if got != tt.want || runtime.GOMAXPROCS(0) != 4 {
			t.Errorf("LimitProcs(%d): GOMAXPROCS %d during (want %d), %d after (want 4)", tt.streams, got, tt.want, runtime.GOMAXPROCS(0))
		}
	}
	a := LimitProcs(1)
	b := LimitProcs(1)
	a()
	if got := runtime.GOMAXPROCS(0); got != 1 {
		t.Errorf("after the first of two releases GOMAXPROCS is %d, want 1", got)
	}
	b()
	if got := runtime.GOMAXPROCS(0); got != 4 {
		t.Errorf("after both releases GOMAXPROCS is %d, want 4", got)
	}
}
