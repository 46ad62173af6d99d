// Package scenario loads, validates and runs scenarios/*.yaml: an environment, steps (deploy the platform,
// apply objects, scale a node group, lose a node, night scale-down) and expectations checked after a step.
package scenario
