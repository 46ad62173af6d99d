package check

import (
	"fmt"
	"time"
)

// Status is the outcome of one check.
type Status string

// The three outcomes.
const (
	Passed  Status = "passed"
	Failed  Status = "failed"
	Skipped Status = "skipped"
)

// Result is what one check found.
type Result struct {
	Name     string
	Status   Status
	Message  string
	Details  []string
	Duration time.Duration
}

func pass(name, format string, args ...any) Result {
	return Result{Name: name, Status: Passed, Message: fmt.Sprintf(format, args...)}
}

func fail(name string, details []string, format string, args ...any) Result {
	return Result{Name: name, Status: Failed, Message: fmt.Sprintf(format, args...), Details: details}
}

func skip(name, format string, args ...any) Result {
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
