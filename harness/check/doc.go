// Package check holds the verdicts the harness reaches before money is spent, run as an explicit list of named
// steps (Steps) over one environment (engine.Env: the platform model, the cluster, its clients). Static steps
// judge the platform model alone; cluster steps let the engine act and observe, then judge what it observed.
// Each step passes, fails with the reason, or is skipped with the reason; a skipped step never counts as passed.
// Adding a check is adding one Step.
package check
