package runner

import (
	"fmt"
	"os"
	"time"

	"github.com/dstload/dstload/workload/ctrllog"
	"github.com/dstload/dstload/workload/report"
)

// withControllerLog adds the supervised controller's error and warning
// lines of [from, to] to the report's input; a log that cannot be read is
// said in the report, not fatal to the run.
func withControllerLog(in *report.Input, path string, from, to time.Time) {
	if path == "" {
		return
	}
	in.ControllerLogSource = path
	f, err := os.Open(path)
	if err != nil {
		in.ControllerLogError = fmt.Sprintf("open the destination controller's log: %v", err)
		return
	}
	defer f.Close()
	lines, err := ctrllog.Parse(f, from, to)
	if err != nil {
		in.ControllerLogError = err.Error()
	}
	in.ControllerLog = lines
}
