package record

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestFileRoundTrip(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 123456789, time.UTC)
	s := Set{
		ScaleEvents:       []ScaleEvent{{Service: "ns/a", Deployment: "a", Seq: 1, Target: 10, Time: t0, Took: 12345678 * time.Nanosecond, Attempts: 2}},
		ScaleFailures:     []ScaleFailure{{Service: "ns/a", Target: 1}},
		EndpointChanges:   []EndpointChange{{Service: "ns/a", Addr: "10.0.0.1:80", Ready: true, Time: t0.Add(time.Millisecond)}},
		KubeConvergence:   []KubeConvergence{{Service: "ns/a", Seq: 1, Target: 10, Reached: true, Time: t0.Add(time.Second)}},
		Streams:           []StreamInfo{{Client: "c", Stream: 1, Service: "ns/a", Sampled: true, Opened: t0}},
		Receipts:          []Receipt{{Client: "c", Stream: 1, Service: "ns/a", Addr: "10.0.0.1:80", Add: true, Time: t0.Add(2 * time.Millisecond)}},
		StreamConvergence: []StreamConvergence{{Client: "c", Stream: 1, Service: "ns/a", Seq: 1, Target: 10, FirstChange: t0, Converged: t0.Add(time.Second)}},
		StreamEnds:        []StreamEnd{{Client: "c", Stream: 1, Cause: CauseLifetime, Time: t0}},
	}
	p := filepath.Join(t.TempDir(), FileName)
	if err := WriteFile(p, s, 0o600); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode().Perm())
	}
	got, err := ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, s) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, s)
	}
	// One record per line, each naming its kind; durations in seconds.
	f, _ := os.Open(p)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("not gzip: %v", err)
	}
	raw, _ := io.ReadAll(zr)
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if len(lines) != 8 || !strings.HasPrefix(lines[0], `{"scaleEvent":{`) || !strings.Contains(lines[0], `"tookSeconds":0.012345678`) || strings.Contains(lines[0], `"took":`) {
		t.Errorf("lines:\n%s", raw)
	}
	// The wire format (/records) carries seconds too, and reads back.
	var b bytes.Buffer
	if err := Write(&b, s); err != nil {
		t.Fatal(err)
	}
	back, err := Read(&b)
	if err != nil || back.ScaleEvents[0].Took != s.ScaleEvents[0].Took {
		t.Errorf("wire round trip: %v %+v", err, back.ScaleEvents)
	}
	if _, err := ReadLines(strings.NewReader(`{"nonsense":{}}`)); err == nil || !strings.Contains(err.Error(), "record 1") {
		t.Errorf("unknown kind: %v", err)
	}
}
