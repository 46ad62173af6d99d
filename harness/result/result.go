// Package result is the vocabulary every step of the harness reports in: a named result that passed, failed with
// the reason, or was skipped with the reason. A skipped result never counts as passed. The checks, the scenario
// runner, the apply tier and the report all speak it; it depends on nothing.
package result

import (
	"fmt"
	"strings"
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

// SkippedPart is the result for the part of a check that could not run on some inputs — charts that could not be
// rendered, given as "<app>: <reason>" — named "<check> [apps]" and skipped with the reason. The check's own
// result then covers the rest only, and says so (ScopeNote): what could not run never counts as passed.
func SkippedPart(check string, skipped []string) Result {
	apps := appsOf(skipped)
	_, first, _ := strings.Cut(skipped[0], ": ")
	return Skip(fmt.Sprintf("%s [%s]", check, strings.Join(apps, ", ")), "%d chart(s) not rendered, so not everything could be checked (%s): %s", len(skipped), strings.Join(apps, ", "), first)
}

// ScopeNote is what a check's message adds when SkippedPart reports part of it apart.
func ScopeNote(skipped []string) string {
	return fmt.Sprintf("rendered charts only: %s not rendered (its part is skipped, reported apart)", strings.Join(appsOf(skipped), ", "))
}

func appsOf(skipped []string) []string {
	var apps []string
	for _, s := range skipped {
		app, _, _ := strings.Cut(s, ":")
		apps = append(apps, app)
	}
	return apps
}
