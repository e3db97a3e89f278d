package procstat

import (
	"context"
	"testing"
	"time"
)

// TestMeter: CPU burnt between Start and Stop is counted, and the probe
// ticks and records its lateness.
func TestMeter(t *testing.T) {
	m := Start(context.Background(), "test")
	deadline := time.Now().Add(200 * time.Millisecond)
	x := 0
	for time.Now().Before(deadline) {
		x++
	}
	s := m.Stop()
	if s.Process != "test" || s.CPUSeconds < 0.1 || s.WallSeconds < 0.2 {
		t.Errorf("stat %+v (spun %d)", s, x)
	}
	if s.Ticks < 5 || s.TickLatenessMax < s.TickLatenessP99 || s.TickLatenessP99 < s.TickLatenessP50 || s.TickLatenessP50 < 0 {
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
