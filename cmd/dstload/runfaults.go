package main

import (
	"fmt"
	"strings"

	"github.com/dstload/dstload/provision"
	"github.com/dstload/dstload/provision/local"
	"github.com/dstload/dstload/workload/report"
	"github.com/dstload/dstload/workload/runner"
)

// componentsDown is the run's check of the environment's supervised host
// processes: those recorded that no longer run (by PID, start time and
// command line). Providers without host processes record none, and the
// run then watches only the API server. The recorded destination
// controller counts only when it is the one the run measures.
func componentsDown(st *provision.State, destAddr string) func() []runner.ComponentDown {
	var procs []provision.Process
	for _, p := range st.Processes {
		if p.Name == local.Destination && p.Addr != destAddr {
			continue
		}
		// Prometheus watches the run; its end changes nothing measured.
		if p.Name == local.Prometheus {
			continue
		}
		procs = append(procs, p)
	}
	if len(procs) == 0 {
		return nil
	}
	tr := local.Track(procs)
	return func() []runner.ComponentDown {
		var down []runner.ComponentDown
		for i, p := range procs {
			if !tr.Alive(i) {
				down = append(down, runner.ComponentDown{Name: p.Name, Detail: fmt.Sprintf("its process (pid %d) is not running", p.PID)})
			}
		}
		return down
	}
}

// verdictError is what `run` ends with after its report: nil for a pass,
// else the verdict's exit code and one line saying why. A failed cleanup
// is a line after it (and exit 1 when the run itself passed).
func verdictError(res *runner.Result) error {
	r := res.Report
	var e *exitError
	switch r.Verdict {
	case report.Pass:
	case report.Incomplete:
		e = &exitError{code: exitIncomplete, err: fmt.Errorf("scenario %s is incomplete: %s (what was measured is in %s)",
			r.Scenario.Name, r.Fault.Line(), res.Files.Markdown)}
	case report.Inconclusive:
		var which []string
		for _, c := range r.Criteria {
			if c.Verdict == report.Inconclusive {
				which = append(which, c.Threshold)
			}
		}
		e = &exitError{code: exitInconclusive, err: fmt.Errorf("scenario %s is inconclusive: %s could not be judged (the instrument's error or cluster-limited events; see %s)",
			r.Scenario.Name, strings.Join(which, ", "), res.Files.Markdown)}
	default:
		msg := fmt.Sprintf("scenario %s failed its criteria (see %s)", r.Scenario.Name, res.Files.Markdown)
		if r.Fault != nil {
			msg = fmt.Sprintf("scenario %s failed its criteria; %s (see %s)", r.Scenario.Name, r.Fault.Line(), res.Files.Markdown)
		}
		e = &exitError{code: exitCriteria, err: fmt.Errorf("%s", msg)}
	}
	if res.Cleanup == nil {
		if e == nil {
			return nil
		}
		return e
	}
	if e == nil {
		return res.Cleanup
	}
	e.after = append(e.after, res.Cleanup.Error())
	return e
}
