package local

import (
	"runtime"

	"golang.org/x/sys/unix"

	"github.com/dstload/dstload/provision"
)

// Tracker tells whether recorded processes still run, for a watch that
// asks every second. Alive reads /proc/PID/stat and /proc/PID/cmdline,
// and the kernel builds /proc/PID/stat by walking the process's threads:
// for the 7 components of a local environment that was 7% of the CPU
// profile of a full-size run's clients process. A pidfd refers to one
// process for good (a reused PID gets a new one), so once a process's
// identity is checked, its liveness is one poll(2).
type Tracker struct {
	procs []provision.Process
	// fds[i] is procs[i]'s pidfd, or -1 where none could be opened
	// (Alive is then asked each time).
	fds []int
}

// Track checks each process's identity once and opens its pidfd. The
// pidfds close when the Tracker is garbage collected.
func Track(procs []provision.Process) *Tracker {
	t := &Tracker{procs: procs, fds: make([]int, len(procs))}
	for i, p := range procs {
		t.fds[i] = -1
		if !alive(p) {
			continue
		}
		fd, err := unix.PidfdOpen(p.PID, 0)
		if err != nil {
			continue
		}
		// The process may have gone between the check and the open, and
		// its PID been reused: check again now that the pidfd holds it.
		if !alive(p) {
			_ = unix.Close(fd)
			continue
		}
		t.fds[i] = fd
	}
	runtime.AddCleanup(t, func(fds []int) {
		for _, fd := range fds {
			if fd >= 0 {
				_ = unix.Close(fd)
			}
		}
	}, t.fds)
	return t
}

// Alive says whether procs[i] (the i-th process given to Track) runs.
func (t *Tracker) Alive(i int) bool {
	fd := t.fds[i]
	if fd < 0 {
		return alive(t.procs[i])
	}
	// A pidfd turns readable when its process exits (a zombie included).
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(pfd, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return alive(t.procs[i])
		}
		return n == 0
	}
}
