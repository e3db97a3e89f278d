package report

import (
	"bytes"
	"strings"
	"testing"

	"github.com/dstload/dstload/workload/ctrllog"
	"github.com/dstload/dstload/workload/dstmetrics"
	"github.com/dstload/dstload/workload/record"
	"github.com/dstload/dstload/workload/scenario"
)

const controllerLogText = `time="2026-11-26T12:00:11Z" level=error msg="Unable to create new address:unable to fetch pod dst/svc-0-5d8f7c9b4-x2k9q: pod \"svc-0-5d8f7c9b4-x2k9q\" not found" component=service-publisher ns=dst port=80 svc=svc-0
time="2026-11-26T12:00:11Z" level=error msg="Unable to create new address:unable to fetch pod dst/svc-0-5d8f7c9b4-q8w7e: pod \"svc-0-5d8f7c9b4-q8w7e\" not found" component=service-publisher ns=dst port=80 svc=svc-0
time="2026-11-26T12:00:12Z" level=error msg="Unable to create new address:unable to fetch pod dst/svc-1-5d8f7c9b4-aaaaa: pod \"svc-1-5d8f7c9b4-aaaaa\" not found" ns=dst svc=svc-1
time="2026-11-26T12:00:03Z" level=error msg="Failed to get node topology zone for node dstload-host" service="svc-0.dst.svc.cluster.local:80"
`

// TestStaleEndpointReported: stream c/2 keeps 10.0.0.2:80 after it left
// the slices at 11 s; the report names it, judges it and attaches the
// controller's lines about the service from that window.
func TestStaleEndpointReported(t *testing.T) {
	set := fixture()
	for i, c := range set.StreamConvergence {
		if c.Missed {
			set.StreamConvergence[i].Deadline = at(16500)
			set.StreamConvergence[i].Held = []string{"10.0.0.1:80", "10.0.0.2:80"}
		}
	}
	lines, err := ctrllog.Parse(strings.NewReader(controllerLogText), at(0), at(21000))
	if err != nil {
		t.Fatal(err)
	}
	s := mustScenario(t, testScenario+"  - {metric: stale_endpoints, max: 0}\n  - {metric: missing_endpoints, max: 0}\n")
	r := Build(Input{
		Scenario: s, Started: at(0), Ended: at(21000), LoadStart: at(500), LoadEnd: at(20000),
		Records: set, Destination: samples(),
		ControllerLog: lines, ControllerLogSource: "/state/e/logs/destination.log",
	})
	if len(r.EndpointDiagnoses) != 1 {
		t.Fatalf("diagnoses %+v", r.EndpointDiagnoses)
	}
	d := r.EndpointDiagnoses[0]
	if d.Kind != record.KindStale || d.Addr != "10.0.0.2:80" || d.Service != svc || d.Streams != 1 || d.ServiceStreams != 2 ||
		d.Recovered != 0 || !near(d.WrongForSeconds, 9) || !d.Since.Equal(at(11000)) {
		t.Errorf("diagnosis %+v", d)
	}
	// Only svc-0's lines from the window (11 s - 2 s on): both pods'
	// lines are one kind; svc-1's and the earlier one are not attached.
	if len(d.ControllerLog) != 1 || d.ControllerLog[0].Count != 2 {
		t.Errorf("controller log of the diagnosis %+v", d.ControllerLog)
	}
	if r.ControllerLog == nil || r.ControllerLog.Lines != 4 || len(r.ControllerLog.Kinds) != 2 {
		t.Errorf("run's controller log %+v", r.ControllerLog)
	}
	verdicts := map[string]CriterionResult{}
	for _, c := range r.Criteria {
		verdicts[c.Metric] = c
	}
	if c := verdicts[scenario.StaleEndpoints]; c.Verdict != Fail || c.MeasuredText != "1 (worst 9s wrong)" {
		t.Errorf("stale_endpoints %+v", c)
	}
	if c := verdicts[scenario.MissingEndpoints]; c.Verdict != Pass || c.MeasuredText != "0" {
		t.Errorf("missing_endpoints %+v", c)
	}

	var sum, md bytes.Buffer
	if err := WriteSummary(&sum, r); err != nil {
		t.Fatal(err)
	}
	if err := WriteMarkdown(&md, r, nil); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"1 stale (worst 9s)", "stale 10.0.0.2:80 of dst/svc-0: held by 1 of 2 streams (1 client processes: c 1)",
		"left the EndpointSlices 12:00:11.000, wrong for 9s, not recovered by the end; at the deadlines of events 2",
		`controller log: 2x error "Unable to create new address:unable to fetch pod dst/svc-0-5d8f7c9b4-x2k9q`} {
		if !strings.Contains(sum.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, sum.String())
		}
	}
	for _, want := range []string{"## Stale and missing endpoints", "| stale | 10.0.0.2:80 | dst/svc-0 | 1 of 2 |",
		"## Destination controller log", "4 error and warning lines in `/state/e/logs/destination.log`",
		"| 3 | error | Unable to create new address:unable to fetch pod dst/<pod>: "} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("report.md lacks %q:\n%s", want, md.String())
		}
	}
}

func TestMemorySlope(t *testing.T) {
	tests := []struct {
		name  string
		mib   []float64 // one sample a minute
		want  float64   // MiB per hour
		wantN int
	}{
		{"flat", []float64{100, 100, 100, 100}, 0, 4},
		{"1 MiB a minute", []float64{100, 101, 102, 103}, 60, 4},
		{"noise around a line", []float64{100, 102, 101, 103}, 48, 4},
		{"one sample", []float64{100}, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ss []dstmetricsSample
			for i, m := range tt.mib {
				ss = append(ss, sampleAt(i*60_000, m))
			}
			got, n := MemorySlope(ss, at(0), at(len(tt.mib)*60_000))
			if n != tt.wantN || !near(got/(1<<20), tt.want) {
				t.Errorf("MemorySlope = %.3f MiB/h from %d samples, want %.3f from %d", got/(1<<20), n, tt.want, tt.wantN)
			}
		})
	}
}

type dstmetricsSample = dstmetrics.Sample

func sampleAt(ms int, mib float64) dstmetrics.Sample {
	return dstmetrics.Sample{Time: at(ms), ResidentMemoryBytes: mib * (1 << 20), StartTime: 1}
}
