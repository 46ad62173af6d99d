// Package scenario loads, validates and runs scenarios/*.yaml: an environment, steps (deploy the platform,
// apply objects, scale a node group, lose a node, night scale-down) and expectations checked after a step.
// Steps act through the same engine.Env as `harness check` (platform model, cluster, chart sources) and report
// in the result vocabulary; the scenario package does not depend on the checks.
package scenario
