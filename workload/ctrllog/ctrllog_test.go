package ctrllog

import (
	"strings"
	"testing"
	"time"
)

const sample = `time="2026-11-30T10:00:00Z" level=info msg="Starting watchers" addr=":8086"
time="2026-11-30T10:00:01Z" level=error msg="Unable to create new address:unable to fetch pod dstload-run/target-003-5d8f7c9b4-x2k9q: pod \"target-003-5d8f7c9b4-x2k9q\" not found" addr=":8086" component=service-publisher ns=dstload-run port=80 svc=target-003
time="2026-11-30T10:00:01Z" level=error msg="Unable to create new address:unable to fetch pod dstload-run/target-003-5d8f7c9b4-q8w7e: pod \"target-003-5d8f7c9b4-q8w7e\" not found" addr=":8086" component=service-publisher ns=dstload-run port=80 svc=target-003
time="2026-11-30T10:00:02Z" level=error msg="Failed to get node topology zone for node dstload-host: nodes \"dstload-host\" not found" addr="127.0.0.1:32252" component=endpoint-translator context-ns=dstload-run remote="127.0.0.1:60368" service="target-009.dstload-run.svc.cluster.local:80"
time="2026-11-30T10:00:03Z" level=warning msg="ignoring endpoint 10.1.2.3:80 of target-004" ns=dstload-run svc=target-004
not a logrus line
I1130 10:00:04.000000       1 leaderelection.go:250] attempting to acquire leader lease
time="2026-11-30T10:00:09Z" level=error msg="late" svc=target-003 ns=dstload-run
`

func TestParse(t *testing.T) {
	at := func(s int) time.Time { return time.Date(2026, 11, 30, 10, 0, s, 0, time.UTC) }
	tests := []struct {
		name     string
		from, to time.Time
		want     int
	}{
		{"all errors and warnings", time.Time{}, time.Time{}, 5},
		{"window", at(1), at(3), 4},
		// A bound inside a second keeps that second's lines.
		{"sub-second bound", at(1).Add(400 * time.Millisecond), at(2), 3},
		{"nothing before", time.Time{}, at(0), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(strings.NewReader(sample), tt.from, tt.to)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.want {
				t.Errorf("Parse: %d lines, want %d: %+v", len(got), tt.want, got)
			}
		})
	}
}

func TestAboutAndSummarize(t *testing.T) {
	lines, err := Parse(strings.NewReader(sample), time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if lines[0].Fields["component"] != "service-publisher" || !strings.Contains(lines[0].Msg, `pod "target-003-`) {
		t.Fatalf("fields or quoting wrong: %+v", lines[0])
	}
	tests := []struct {
		service string
		want    int
	}{
		{"dstload-run/target-003", 3},
		{"dstload-run/target-009", 1},
		{"dstload-run/target-004", 1},
		{"other/target-003", 0},
		{"dstload-run/target-00", 0},
	}
	for _, tt := range tests {
		n := 0
		for _, l := range lines {
			if l.About(tt.service) {
				n++
			}
		}
		if n != tt.want {
			t.Errorf("About(%s): %d lines, want %d", tt.service, n, tt.want)
		}
	}
	sum := Summarize(lines)
	if len(sum) != 4 {
		t.Fatalf("Summarize: %d kinds, want 4: %+v", len(sum), sum)
	}
	top := sum[0]
	if top.Count != 2 || top.Level != "error" || top.Message != `Unable to create new address:unable to fetch pod dstload-run/<pod>: pod "<pod>" not found` {
		t.Errorf("top summary = %+v", top)
	}
	if !strings.Contains(top.Example, "x2k9q") || !top.First.Equal(top.Last) {
		t.Errorf("example or times wrong: %+v", top)
	}
	if m := Mask("ignoring endpoint 10.1.2.3:80 and [fd00::1]:8080 of target-004"); m != "ignoring endpoint <addr> and <addr> of target-<n>" {
		t.Errorf("Mask = %q", m)
	}
}
