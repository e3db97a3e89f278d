package main

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"

	"golang.org/x/term"
)

// progress is where up's and run's progress lines go: with --quiet
// nowhere; with --log-format json through slog, one record per line, so
// stderr stays one JSON document per line; on a terminal a run's status
// lines ("[ 13s] hold: ...") overwrite each other; elsewhere (CI logs)
// every line as written.
func (a *app) progress() io.Writer {
	if a.prog == nil {
		a.prog = a.newProgress()
	}
	return a.prog
}

func (a *app) newProgress() io.Writer {
	switch {
	case a.quiet:
		return io.Discard
	case a.logFormat == "json":
		return &slogLines{log: a.log}
	}
	if f, ok := a.errOut.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return &liveLines{w: a.errOut}
	}
	return a.errOut
}

// slogLines turns each written line into an INFO record with msg
// "progress" and the line as "line".
type slogLines struct {
	log *slog.Logger
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *slogLines) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf.Write(p)
	for {
		line, err := s.buf.ReadString('\n')
		if err != nil { // no newline yet: keep the rest for the next Write
			s.buf.Reset()
			s.buf.WriteString(line)
			return len(p), nil
		}
		s.log.Info("progress", "line", strings.TrimRight(line, "\n"))
	}
}

// liveLines keeps a run's status lines on one terminal line: a status
// line (one with "phase: ...") replaces the previous status line; any
// other line ends it and is printed as is.
type liveLines struct {
	w      io.Writer
	mu     sync.Mutex
	status bool // the cursor is at the end of a status line
}

func (l *liveLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range strings.SplitAfter(string(p), "\n") {
		if line == "" {
			continue
		}
		text := strings.TrimRight(line, "\n")
		switch {
		case isStatusLine(text):
			// \r and erase-line: the new status over the old.
			prefix := "\r\x1b[K"
			if !l.status {
				prefix = ""
			}
			if _, err := io.WriteString(l.w, prefix+text); err != nil {
				return 0, err
			}
			l.status = true
		default:
			if l.status {
				text = "\n" + text
			}
			if _, err := io.WriteString(l.w, text+"\n"); err != nil {
				return 0, err
			}
			l.status = false
		}
	}
	return len(p), nil
}

// isStatusLine: a run's periodic status ("[    13s] hold: streams 5/5
// up, ..." or "churn: events 2/8, streams ..."). Other lines (a phase
// starting, a stale endpoint named, a fault) stay on the screen.
func isStatusLine(s string) bool {
	_, rest, ok := strings.Cut(s, "] ")
	if !ok || !strings.HasPrefix(s, "[") {
		return false
	}
	_, body, ok := strings.Cut(rest, ": ")
	return ok && (strings.HasPrefix(body, "streams ") || strings.HasPrefix(body, "events "))
}
