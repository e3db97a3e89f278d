package report

import (
	"fmt"
	"time"
)

// Incomplete is the verdict of a run that a fault in its environment
// stopped early (an API server, etcd or a control-plane process gone):
// what was measured is reported, but it says nothing about the
// destination controller, so no criterion is held against it.
const Incomplete = "incomplete"

// Fault is what stopped a run early.
type Fault struct {
	// Component is the part that failed: kube-apiserver, etcd,
	// kube-controller-manager, kube-scheduler, kwok or destination.
	Component string `json:"component"`
	// Since is when it was first seen failing, Noticed when the run gave up
	// on it and stopped the load.
	Since   time.Time `json:"since"`
	Noticed time.Time `json:"noticed"`
	Detail  string    `json:"detail"`
	// Repair is the command that restores the environment.
	Repair string `json:"repair"`
	// UnderTest is set when the component is the destination controller,
	// the thing measured: its failure is a finding, so criteria that
	// failed still fail the run.
	UnderTest bool `json:"underTest,omitempty"`
}

// Line is the fault in one sentence, for the terminal and report.md.
func (f *Fault) Line() string {
	what := f.Component
	if f.UnderTest {
		what = "the destination controller"
	}
	return fmt.Sprintf("%s failed since %s (%s); the load was stopped at %s; repair: %s",
		what, f.Since.UTC().Format("15:04:05 MST"), f.Detail, f.Noticed.UTC().Format("15:04:05"), f.Repair)
}

// meaning says what a stopped run's figures are worth.
func (f *Fault) meaning() string {
	if f.UnderTest {
		return "What was measured until then is below; criteria that failed are the controller's."
	}
	return "What was measured until then is below; the environment failed, so it is no verdict on the destination controller."
}

// applyFault marks r stopped by f. A fault of the environment makes the run
// incomplete whatever the criteria say (the cluster, not the controller,
// stopped it); a destination controller that died keeps a failed verdict,
// and is incomplete only when nothing failed (the run ended early).
func applyFault(r *Report, f *Fault) {
	if f == nil {
		return
	}
	r.Fault = f
	if !f.UnderTest || r.Verdict != Fail {
		r.Verdict = Incomplete
	}
}
