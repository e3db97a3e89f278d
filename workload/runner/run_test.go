package runner

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/dstload/dstload/workload/record"
)

func TestLastTargets(t *testing.T) {
	tg := &Targets{Namespace: "ns", Count: 3}
	set := record.Set{ScaleEvents: []record.ScaleEvent{
		{Service: "ns/target-000", Seq: 2, Target: 1},
		{Service: "ns/target-000", Seq: 1, Target: 10},
		{Service: "ns/target-001", Seq: 1, Target: 10},
	}}
	got := lastTargets(set, tg, 4)
	want := map[string]int{"ns/target-000": 1, "ns/target-001": 10, "ns/target-002": 4}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %d, want %d (all: %v)", k, got[k], v, got)
		}
	}
}

func TestPhasesAndProgress(t *testing.T) {
	var out bytes.Buffer
	r := &run{cfg: Config{Progress: &out}, started: time.Now()}
	r.enter("deploy")
	r.progressf("%d targets", 3)
	r.enter("churn")
	ph := r.endPhases()
	if len(ph) != 2 || ph[0].Name != "deploy" || ph[0].Ended.IsZero() || ph[1].Ended.IsZero() || ph[1].Started.Before(ph[0].Started) {
		t.Fatalf("phases %+v", ph)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := []string{"[     0s] deploy", "[     0s] deploy: 3 targets", "[     0s] churn"}
	if strings.Join(lines, "|") != strings.Join(want, "|") {
		t.Fatalf("progress:\n%s", out.String())
	}
}
