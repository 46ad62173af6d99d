// Package check holds the named checks the harness runs before money is spent, and their results: each check
// passes, fails with the reason, or is skipped with the reason. A skipped check never counts as passed.
package check
