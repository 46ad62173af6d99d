// Package result is the vocabulary every step of the harness reports in: a named result that passed, failed with
// the reason, or was skipped with the reason. A skipped result never counts as passed. The checks, the scenario
// runner, the apply tier and the report all speak it; it depends on nothing.
package result

import (
	"fmt"
	"time"
)

// Status is the outcome of one step.
type Status string

// The three outcomes.
const (
	Passed  Status = "passed"
	Failed  Status = "failed"
	Skipped Status = "skipped"
)

// Result is what one step found.
type Result struct {
	Name     string
	Status   Status
	Message  string
	Details  []string
	Duration time.Duration
}

// Pass is a passed result.
func Pass(name, format string, args ...any) Result {
	return Result{Name: name, Status: Passed, Message: fmt.Sprintf(format, args...)}
}

// Fail is a failed result with its details (one line each).
func Fail(name string, details []string, format string, args ...any) Result {
	return Result{Name: name, Status: Failed, Message: fmt.Sprintf(format, args...), Details: details}
}

// Skip is a skipped result; the message is the reason.
func Skip(name, format string, args ...any) Result {
	return Result{Name: name, Status: Skipped, Message: fmt.Sprintf(format, args...)}
}

// AnyFailed reports whether any result failed.
func AnyFailed(rs []Result) bool {
	for _, r := range rs {
		if r.Status == Failed {
			return true
		}
	}
	return false
}
