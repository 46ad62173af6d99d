// Package report prints what the harness does for people: one progress line per step with ✓/✗ and seconds,
// and (for checks) summaries and machine-readable results.
package report
