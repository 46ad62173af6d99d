package check

import (
	"errors"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/engine"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
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

// TestKarpenterStartJudged: the engine reports what it did; the verdict is check's.
func TestKarpenterStartJudged(t *testing.T) {
	assert.Equal(t, result.Failed, KarpenterStarted(engine.KarpenterStart{}, errors.New("start Karpenter: exited")).Status)
	assert.Equal(t, result.Skipped, KarpenterStarted(engine.KarpenterStart{Skipped: "no NodePool"}, nil).Status)
	r := KarpenterStarted(engine.KarpenterStart{Pools: 1, Changes: []string{"NodePool gpu: nodeClassRef -> KWOKNodeClass"}, InstanceTypes: 9}, nil)
	assert.Equal(t, result.Passed, r.Status)
	assert.Contains(t, r.Details, "NodePool gpu: nodeClassRef -> KWOKNodeClass")
}
