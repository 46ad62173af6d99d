package check

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestStepsDeclareTheirPhaseInOrder: every step belongs to a known phase, and Steps runs the phases in order.
func TestStepsDeclareTheirPhaseInOrder(t *testing.T) {
	order := []Phase{PhaseStatic, PhaseScan, PhaseCRDs, PhaseDeploy, PhaseControllers, PhasePlacement, PhaseAcceptance, PhaseWorkflows, PhaseWorkload}
	last := -1
	for _, s := range Steps() {
		i := slices.Index(order, s.Phase)
		if !assert.GreaterOrEqual(t, i, 0, "step %v has no known phase (%q)", s.Names, s.Phase) {
			continue
		}
		assert.GreaterOrEqual(t, i, last, "step %v (%s) runs after a step of a later phase", s.Names, s.Phase)
		last = i
	}
	for _, p := range order {
		assert.NotEmpty(t, Select(Steps(), p), "no step of phase %s", p)
	}
	assert.Len(t, Except(Steps(), PhaseStatic), len(Steps())-len(Select(Steps(), PhaseStatic)))
	for _, s := range Select(Steps(), ClusterPhases...) {
		assert.True(t, s.NeedsCluster(), "%v", s.Names)
	}
}
