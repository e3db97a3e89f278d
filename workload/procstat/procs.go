package procstat

import (
	"runtime"
	"sync"
)

// StreamsPerProc is how many Destination.Get streams one Go P carries
// while a run holds its load (see LimitProcs).
const StreamsPerProc = 2500

var procs struct {
	mu    sync.Mutex
	holds int
	prev  int
}

// LimitProcs runs this process on fewer Ps while the load holds streams
// streams, and release puts the previous setting back; overlapping holds
// (tests run several loads in one process) share one limit, the first's.
//
// The clients' work arrives as many small wake-ups: a message for one
// stream is read by its connection's goroutine and handed to the
// stream's. With a second P idle, each hand-off also wakes a spinning
// thread for it, which on a 2-core machine cost more CPU than the work
// handed over (1,000 streams: 5.6 s of the clients' CPU on two Ps, 4.4 s
// on one, in the same full-size run; README, "Where dstload's CPU goes").
// One P per StreamsPerProc streams keeps that cost down and still lets a
// large load use every core.
func LimitProcs(streams int) (release func()) {
	n := min(runtime.NumCPU(), max(1, (streams+StreamsPerProc-1)/StreamsPerProc))
	procs.mu.Lock()
	defer procs.mu.Unlock()
	if procs.holds == 0 {
		procs.prev = runtime.GOMAXPROCS(0)
		if n < procs.prev {
			runtime.GOMAXPROCS(n)
		}
	}
	procs.holds++
	return sync.OnceFunc(func() {
		procs.mu.Lock()
		defer procs.mu.Unlock()
		if procs.holds--; procs.holds == 0 {
			runtime.GOMAXPROCS(procs.prev)
		}
	})
}
