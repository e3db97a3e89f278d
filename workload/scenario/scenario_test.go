package scenario

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

const validOscillate = `
name: tiny
services:
  count: 2
churn:
  pattern: oscillate
  min: 1
  max: 4
  holdMax: 10s
  holdMin: 20s
  jitter: 1s
  cycles: 2
clients:
  streams: 10
criteria:
  - metric: update_latency_p95
    max: 500ms
  - metric: destination_memory_max
    max: 2GiB
  - metric: subscriptions_held
    min: 100%
`

func TestParseValid(t *testing.T) {
	s, err := Parse([]byte(validOscillate), "test")
	if err != nil {
		t.Fatal(err)
	}
	if s.Services.Endpoints != 1 {
		t.Errorf("services.endpoints default = %d, want churn.min 1", s.Services.Endpoints)
	}
	if s.Clients.Processes != 1 || s.Clients.Connections != 1 || s.Settle != 2*time.Minute {
		t.Errorf("defaults not applied: %+v settle %s", s.Clients, s.Settle)
	}
	if got := s.Criteria[0].Max.Value; got != 0.5 {
		t.Errorf("p95 threshold = %v s, want 0.5", got)
	}
	if got := s.Criteria[1].Max.Value; got != 2*(1<<30) {
		t.Errorf("memory threshold = %v, want 2GiB", got)
	}
	if got := s.Criteria[2].Min.Value; got != 1 {
		t.Errorf("subscriptions threshold = %v, want 1", got)
	}
	if got, want := s.Events(), 4; got != want {
		t.Errorf("Events() = %d, want %d", got, want)
	}
	if got, want := s.ChurnDuration(), 60*time.Second; got != want {
		t.Errorf("ChurnDuration() = %s, want %s", got, want)
	}
	if got, want := s.Shape(), "2 svc oscillating 1<->4, hold 10s/20s, jitter 0-1s, 2 cycles; 10 streams"; got != want {
		t.Errorf("Shape() = %q, want %q", got, want)
	}
	if got, want := s.CriteriaSummary(), "p95 < 500ms, memory < 2GiB, subscriptions >= 100%"; got != want {
		t.Errorf("CriteriaSummary() = %q, want %q", got, want)
	}
}

// TestParseRejects feeds broken files and checks that the error names the
// field (and, for decoding errors, the line).
func TestParseRejects(t *testing.T) {
	replace := func(old, new string) string {
		if !strings.Contains(validOscillate, old) {
			t.Fatalf("fixture has no %q", old)
		}
		return strings.Replace(validOscillate, old, new, 1)
	}
	tests := []struct {
		name, file, want string
	}{
		{"empty", "", "file is empty"},
		{"not yaml", "name: [", "scenario test: yaml:"},
		{"top-level list", "- a\n- b\n", "(top level) (line 1): want a mapping"},
		{"unknown top field", validOscillate + "extra: 1\n", "extra (line 22): unknown field"},
		{"unknown nested field", replace("  cycles: 2", "  cycles: 2\n  burst: 3"), "churn.burst (line 13): unknown field (known: pattern, min, max, holdMax, holdMin, jitter, cycles, duration)"},
		{"unknown criterion field", replace("    max: 500ms", "    max: 500ms\n    above: 1s"), "criteria[0].above (line 18): unknown field"},
		{"duplicate field", replace("  min: 1", "  min: 1\n  min: 2"), "churn.min (line 8): set twice"},
		{"int as string", replace("  count: 2", "  count: two"), `services.count (line 4): want an integer, got "two"`},
		{"bad duration", replace("holdMax: 10s", "holdMax: 10"), `churn.holdMax (line 9): want a duration such as 30s or 2m, got "10"`},
		{"mapping for scalar", replace("  streams: 10", "  streams: {a: 1}"), "clients.streams (line 14): want a single value, got a mapping"},
		{"criteria not a list", replace("criteria:\n", "criteria: 3\nx:\n"), "criteria (line 15): want a list"},
		{"max below min", replace("  max: 4", "  max: 1"), "scenario tiny: churn.max: must be > churn.min (1), got 1"},
		{"missing name", replace("name: tiny", "name: \"\""), "scenario test: name: required"},
		{"bad name", replace("name: tiny", "name: Tiny_One"), `name: "Tiny_One" must be lower-case`},
		{"no services", replace("  count: 2", "  count: 0"), "services.count: must be >= 1, got 0"},
		{"no pattern", replace("  pattern: oscillate\n", ""), "churn.pattern: required: stable or oscillate"},
		{"unknown pattern", replace("pattern: oscillate", "pattern: sawtooth"), `churn.pattern: "sawtooth" is not a pattern`},
		{"jitter too long", replace("jitter: 1s", "jitter: 15s"), "churn.jitter: must be shorter than both holds"},
		{"never ends", replace("  cycles: 2", "  cycles: 0"), "churn.cycles: set churn.cycles or churn.duration"},
		{"endpoints outside range", replace("  count: 2", "  count: 2\n  endpoints: 9"), "services.endpoints: must be within churn.min..churn.max (1..4), got 9"},
		{"stable with min", strings.NewReplacer("pattern: oscillate", "pattern: stable\n  duration: 1m", "  count: 2", "  count: 2\n  endpoints: 3").Replace(validOscillate), "scenario tiny: churn.min: only applies to churn.pattern oscillate"},
		{"zero streams", replace("streams: 10", "streams: 0"), "clients.streams: must be >= 1, got 0"},
		{"more processes than streams", replace("streams: 10", "streams: 10\n  processes: 11"), "clients.processes: must be <= clients.streams (10), got 11"},
		{"uneven streams", replace("streams: 10", "streams: 10\n  processes: 2"), "clients.streams: must be a multiple of services.count x clients.processes (2 x 2 = 4), got 10"},
		{"no criteria", strings.Split(validOscillate, "criteria:")[0], "criteria: at least one criterion is required"},
		{"unknown metric", replace("update_latency_p95", "latency_p95"), `criteria[0].metric: unknown metric "latency_p95" (one of `},
		{"duplicate metric", replace("destination_memory_max", "update_latency_p95"), "criteria[1].metric: update_latency_p95 is judged twice"},
		{"bad duration threshold", replace("max: 500ms", "max: fast"), `criteria[0].max: want a duration such as 500ms or 2s, got "fast"`},
		{"bad bytes threshold", replace("max: 2GiB", "max: 2 lots"), `criteria[1].max: want a size such as 2GiB, 512Mi or 1G, got "2 lots"`},
		{"bad ratio threshold", replace("min: 100%", "min: all"), `criteria[2].min: want a ratio such as 0.1 or 10%, got "all"`},
		{"no bound", replace("    max: 500ms\n", ""), "criteria[0]: set max or min"},
		{"empty bound", replace("max: 500ms", "max:"), "criteria[0]: set max or min"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.file), "test")
			if err == nil {
				t.Fatalf("Parse accepted:\n%s", tt.file)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q\ndoes not contain %q", err, tt.want)
			}
		})
	}
}

// TestCatalogue checks the catalogue scenarios' shapes and criteria
// (values/scenarios).
func TestCatalogue(t *testing.T) {
	all, err := Catalogue()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct{ shape, criteria string }{
		"baseline": {"10 svc x 100 endpoints, no churn, held 10m; 1000 streams (100 client processes on 10 nodes)",
			"stream errors <= 0, stream resets <= 0, subscriptions >= 100%, memory growth <= 10%, restarts <= 0"},
		"small-oscillation": {"10 svc oscillating 10<->200, hold 2m/5m, jitter 0-5s, 3 cycles; 1000 streams (100 client processes on 10 nodes)",
			"p95 < 500ms, p99 < 2s, fanout < 10s, missed <= 0, stream errors <= 0, stale <= 0, missing <= 0"},
		"large-rollout": {"1 svc oscillating 500<->1000, hold 3m/3m, 3 cycles; 1000 streams (100 client processes on 10 nodes)",
			"p95 < 1s, p99 < 3s, fanout < 15s, memory < 2GiB, stale <= 0, missing <= 0"},
		"many-services": {"100 svc oscillating 50<->100, hold 2m/2m, jitter 0-5s, 3 cycles; 10000 streams (100 client processes on 10 nodes)",
			"p95 < 1s, p99 < 3s, fanout < 20s, memory < 6GiB"},
		"red-line": {"50 svc oscillating 100<->200, hold 2m/2m, 3 cycles; 25000 streams (250 client processes on 25 nodes)",
			"p99 < 10s, memory < 8GiB, restarts <= 0"},
		"remote-discovery": {"remote-discovery (targets in the target cluster, clients in the source): 10 svc oscillating 10<->200, hold 2m/5m, jitter 0-5s, 3 cycles; 1000 streams (100 client processes on 10 nodes)",
			"p95 < 500ms, p99 < 2s, fanout < 10s, missed <= 0, stream errors <= 0, stale <= 0, missing <= 0"},
		"federated": {"federated (members in both clusters, churn in each, clients in the source): 10 svc oscillating 5<->100, hold 2m/5m, jitter 0-5s, 3 cycles; 1000 streams (100 client processes on 10 nodes)",
			"p95 < 500ms, p99 < 2s, fanout < 10s, missed <= 0, stream errors <= 0, stale <= 0, missing <= 0"},
		"subscriber-cost": {"10 svc x 100 endpoints, no churn; streams stepped 0/250/500/1000/2000 (40 client processes on 4 nodes)",
			"stream errors <= 0, subscriptions >= 100%, heap/subscriber < 330KiB, restarts <= 0"},
	}
	if len(all) != len(want) {
		t.Fatalf("catalogue has %d scenarios, want %d", len(all), len(want))
	}
	for _, s := range all {
		w, ok := want[s.Name]
		if !ok {
			t.Errorf("unexpected scenario %s", s.Name)
			continue
		}
		if got := s.Shape(); got != w.shape {
			t.Errorf("%s shape:\n got %q\nwant %q", s.Name, got, w.shape)
		}
		if got := s.CriteriaSummary(); got != w.criteria {
			t.Errorf("%s criteria:\n got %q\nwant %q", s.Name, got, w.criteria)
		}
	}
}

func TestCatalogueNameMustMatchFile(t *testing.T) {
	fsys := fstest.MapFS{"other.yaml": {Data: []byte(validOscillate)}}
	_, err := catalogueFrom(fsys)
	if err == nil || !strings.Contains(err.Error(), `name "tiny" must equal the file name "other"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "mine.yaml")
	if err := os.WriteFile(good, []byte(validOscillate), 0o600); err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(dir, "broken.yml")
	if err := os.WriteFile(broken, []byte(validOscillate+"bogus: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		arg, wantName, wantErr string
	}{
		{"baseline", "baseline", ""},
		{"small-oscillation", "small-oscillation", ""},
		{good, "tiny", ""},
		{broken, "", "bogus (line 22): unknown field"},
		{"nope", "", `no such scenario "nope": use one of baseline, federated, large-rollout, many-services, red-line, remote-discovery, small-oscillation`},
		{filepath.Join(dir, "missing.yaml"), "", "does not exist"},
		{"../values/x", "", "does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.arg, func(t *testing.T) {
			s, err := Load(tt.arg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Name != tt.wantName {
				t.Fatalf("name = %s, want %s", s.Name, tt.wantName)
			}
		})
	}
}

func TestApply(t *testing.T) {
	load := func(name string) *Scenario {
		s, err := Load(name)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	tests := []struct {
		name     string
		base     string
		o        Overrides
		check    func(*Scenario) string
		wantErr  string
		original func(*Scenario) bool
	}{
		{name: "baseline ci", base: "baseline", o: Overrides{Scale: 0.05, Cycles: -1, Duration: 20 * time.Second},
			check: func(s *Scenario) string {
				return s.Shape()
			}},
		{name: "small-oscillation ci", base: "small-oscillation", o: Overrides{Scale: 0.05, Cycles: 1, HoldMax: 10 * time.Second, HoldMin: 10 * time.Second},
			check: func(s *Scenario) string { return s.Shape() }},
		{name: "scale up", base: "large-rollout", o: Overrides{Scale: 2, Cycles: -1},
			check: func(s *Scenario) string { return s.Shape() }},
		{name: "hold as one value", base: "many-services", o: Overrides{Cycles: -1, HoldMax: time.Minute, HoldMin: time.Minute, Duration: 3 * time.Minute},
			check: func(s *Scenario) string { return s.Shape() }},
		{name: "cycles on stable", base: "baseline", o: Overrides{Cycles: 2}, wantErr: "scenario baseline: churn.cycles: only applies to churn.pattern oscillate"},
		{name: "negative scale", base: "baseline", o: Overrides{Scale: -1, Cycles: -1}, wantErr: "scale -1: must be > 0"},
	}
	wantShapes := map[string]string{
		"baseline ci":          "1 svc x 5 endpoints, no churn, held 20s; 50 streams (5 client processes on 1 node)",
		"small-oscillation ci": "1 svc oscillating 1<->10, hold 10s/10s, jitter 0-5s, 1 cycles; 50 streams (5 client processes on 1 node)",
		"scale up":             "2 svc oscillating 1000<->2000, hold 3m/3m, 3 cycles; 2000 streams (200 client processes on 20 nodes)",
		"hold as one value":    "100 svc oscillating 50<->100, hold 1m/1m, jitter 0-5s, 3 cycles, at most 3m; 10000 streams (100 client processes on 10 nodes)",
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := load(tt.base)
			before := base.Shape()
			got, err := base.Apply(tt.o)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s := tt.check(got); s != wantShapes[tt.name] {
				t.Errorf("shape:\n got %q\nwant %q", s, wantShapes[tt.name])
			}
			if base.Shape() != before {
				t.Errorf("Apply changed the original: %q", base.Shape())
			}
		})
	}
}

func TestStreamsPerClientService(t *testing.T) {
	s, err := Load("red-line")
	if err != nil {
		t.Fatal(err)
	}
	if got := s.StreamsPerClientService(); got != 2 {
		t.Fatalf("red-line: %d streams per client and service, want 2", got)
	}
	small, err := s.Apply(Overrides{Scale: 0.05, Cycles: -1})
	if err != nil {
		t.Fatal(err)
	}
	// 3 services x 13 processes; 1250 streams rounded to 32 per client and service.
	if small.Services.Count != 3 || small.Clients.Processes != 13 || small.Clients.Streams != 1248 || small.StreamsPerClientService() != 32 {
		t.Fatalf("red-line at 0.05: %s", small.Shape())
	}
}

func TestFormatValue(t *testing.T) {
	tests := []struct {
		u    Unit
		v    float64
		want string
	}{
		{UnitSeconds, 0.5123456, "512.35ms"},
		{UnitSeconds, 2.0004, "2s"},
		{UnitSeconds, 0.000012, "12µs"},
		{UnitBytes, 150 << 20, "150.0MiB"},
		{UnitBytes, 3 << 30, "3.00GiB"},
		{UnitRatio, 0.125, "12.5%"},
		{UnitCount, 3, "3"},
	}
	for _, tt := range tests {
		if got := FormatValue(tt.u, tt.v); got != tt.want {
			t.Errorf("FormatValue(%s, %v) = %q, want %q", tt.u, tt.v, got, tt.want)
		}
	}
}

func TestParseBytes(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want float64
		ok   bool
	}{
		{"2GiB", 2 << 30, true}, {"512Mi", 512 << 20, true}, {"1048576", 1 << 20, true}, {"1.5GB", 1.5e9, true},
		{"2G", 2e9, true}, {"500M", 5e8, true}, {"1e9", 1e9, true}, {"100k", 1e5, true},
		{"lots", 0, false}, {"-1Gi", 0, false}, {"", 0, false},
	} {
		got, err := ParseBytes(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseBytes(%q) = %v, %v; want %v (ok %t)", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
