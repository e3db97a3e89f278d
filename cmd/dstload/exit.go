package main

import (
	"errors"
	"fmt"
)

// Exit codes are part of dstload's interface: CI pipelines branch on them.
const (
	exitOK       = 0
	exitFailure  = 1 // something went wrong while running
	exitUsage    = 2 // bad flags, arguments or input files
	exitCriteria = 3 // a scenario ran but failed its criteria
	// exitInconclusive: no criterion failed, but the instrument could not
	// vouch for a latency verdict (report.Inconclusive).
	exitInconclusive = 4
	// exitIncomplete: a fault in the environment (API server, etcd, a
	// control-plane process) stopped the run; the report has what was
	// measured, and no verdict on the destination controller
	// (report.Incomplete).
	exitIncomplete = 5
)

// exitError carries an exit code with the error that caused it.
type exitError struct {
	code int
	err  error
	// after are lines said after err: what also failed, but is not why
	// the command ended as it did.
	after []string
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageErrorf reports bad input (exit 2). The message should name the fix.
func usageErrorf(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// usageError marks err as bad input (exit 2).
func usageError(err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: exitUsage, err: err}
}

// afterLines are the lines to print after err's own.
func afterLines(err error) []string {
	var e *exitError
	if errors.As(err, &e) {
		return e.after
	}
	return nil
}

func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var e *exitError
	if errors.As(err, &e) {
		return e.code
	}
	return exitFailure
}
