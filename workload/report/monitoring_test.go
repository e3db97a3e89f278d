package report

import (
	"bytes"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestNewMonitoring(t *testing.T) {
	if NewMonitoring("", "", time.Now(), time.Now()) != nil {
		t.Fatal("a link without a Prometheus URL")
	}
	start := time.Date(2026, 12, 1, 19, 56, 33, 400e6, time.UTC)
	end := time.Date(2026, 12, 1, 19, 57, 48, 100e6, time.UTC)
	for _, tc := range []struct {
		page, wantPath string
	}{
		{"", "/graph"},
		{"/classic/graph", "/classic/graph"},
	} {
		m := NewMonitoring("http://127.0.0.1:9090", tc.page, start, end)
		if !m.Start.Equal(start.Truncate(time.Second)) || !m.End.Equal(time.Date(2026, 12, 1, 19, 57, 49, 0, time.UTC)) {
			t.Errorf("window %s to %s", m.Start, m.End)
		}
		u, err := url.Parse(m.GraphURL)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		// The graph ends at the next whole minute (the classic UI's
		// precision) and starts at the run's start.
		if u.Path != tc.wantPath || q.Get("g0.expr") != "sum(endpoints_subscribers)" || q.Get("g0.tab") != "0" ||
			q.Get("g0.end_input") != "2026-12-01 19:58" || q.Get("g0.range_input") != "87s" || q.Get("g1.expr") == "" {
			t.Errorf("graph URL %s", m.GraphURL)
		}
	}
	r := &Report{Monitoring: NewMonitoring("http://127.0.0.1:9090", "", start, end)}
	var md bytes.Buffer
	if err := WriteMarkdown(&md, r, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "| prometheus | [19:56:33 to 19:57:49 UTC](http://127.0.0.1:9090/graph?") {
		t.Errorf("markdown lacks the link:\n%s", md.String())
	}
	var html bytes.Buffer
	if err := WriteHTML(&html, r, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(html.String(), `<a href="http://127.0.0.1:9090/graph?g0.end_input=`) {
		t.Errorf("HTML lacks the link")
	}
}
