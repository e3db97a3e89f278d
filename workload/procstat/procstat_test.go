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
