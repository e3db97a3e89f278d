package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

func TestSlogLines(t *testing.T) {
	var b bytes.Buffer
	w := &slogLines{log: slog.New(slog.NewJSONHandler(&b, nil))}
	// Lines split across writes, two lines in one write.
	for _, p := range []string{"[     0s] deploy\n[     1s] conn", "ect: streams 5/5 up\n", "[     2s] hold\n"} {
		w.Write([]byte(p))
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		var rec struct{ Msg, Line string }
		if err := json.Unmarshal([]byte(l), &rec); err != nil || rec.Msg != "progress" {
			t.Fatalf("not a progress record: %q (%v)", l, err)
		}
		got = append(got, rec.Line)
	}
	want := []string{"[     0s] deploy", "[     1s] connect: streams 5/5 up", "[     2s] hold"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("lines %q, want %q", got, want)
	}
}

func TestLiveLines(t *testing.T) {
	var b bytes.Buffer
	w := &liveLines{w: &b}
	for _, p := range []string{"[     0s] hold\n", "[     1s] hold: streams 5/5\n", "[     2s] hold: streams 4/5\n",
		"[     2s] hold: stale 10.0.0.1:80 of ns/a\n", "[     3s] churn: events 1/2, streams 5/5\n", "[     3s] settle\n"} {
		w.Write([]byte(p))
	}
	want := "[     0s] hold\n[     1s] hold: streams 5/5\r\x1b[K[     2s] hold: streams 4/5\n[     2s] hold: stale 10.0.0.1:80 of ns/a\n" +
		"[     3s] churn: events 1/2, streams 5/5\n[     3s] settle\n"
	if b.String() != want {
		t.Errorf("got %q\nwant %q", b.String(), want)
	}
}

func TestQuietAndJSONProgress(t *testing.T) {
	var out, errOut bytes.Buffer
	a := &app{out: &out, errOut: &errOut, logFormat: "json"}
	if _, ok := a.newProgress().(*slogLines); !ok {
		t.Errorf("--log-format json: progress is %T", a.newProgress())
	}
	a.quiet = true
	if w := a.newProgress(); w == &errOut || w == nil {
		t.Errorf("--quiet: progress goes to stderr")
	}
	// Not a terminal (a buffer): lines as written.
	a = &app{out: &out, errOut: &errOut, logFormat: "text"}
	if a.newProgress() != &errOut {
		t.Errorf("text to a non-terminal: progress is %T", a.newProgress())
	}
}

func TestProgressWriterIsShared(t *testing.T) {
	var out, errOut bytes.Buffer
	a := &app{out: &out, errOut: &errOut, logFormat: "json"}
	if a.progress() != a.progress() {
		t.Error("each call made a new progress writer: a terminal's status line would lose its state")
	}
}
