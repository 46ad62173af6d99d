package check

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/rollout"
)

// TestRollJudgesWhatTheRollSaw: a completed roll passes saying what moved; a roll a budget stopped fails as EKS's
// PodEvictionFailure naming the node and the budget, and only the named budget counts as the one that blocked it;
// a roll stopped by anything else fails with where it stopped; an empty group passes with nothing to roll.
func TestRollJudgesWhatTheRollSaw(t *testing.T) {
	done := rollout.Report{Group: "gpu", KubeletVersion: "v1.36.0", Old: []string{"gpu-0"}, Fresh: []string{"gpu-1"},
		Evicted: 2, Available: []string{"Deployment ml/trainer"}, GPUOnNew: 1, Duration: 3 * time.Second}
	r := Roll(done)
	assert.Equal(t, result.Passed, r.Status, r.Message)
	assert.Equal(t, "rehearse/roll/gpu", r.Name)
	assert.Contains(t, r.Message, "node group gpu rolled to v1.36.0 in 3s: 1 node(s) surged, 1 cordoned and drained (2 pod(s) evicted")
	assert.Contains(t, r.Message, "1 GPU pod(s) running on the new nodes; old nodes removed")

	blocked := done
	blocked.Err = errors.New("pod platform/gatekeeper-0 cannot be evicted for 3s: PodDisruptionBudget platform/gatekeeper (maxUnavailable: 0) allows 0 disruption(s)")
	blocked.Blocked = &rollout.Blocked{Node: "system-0", Pod: "platform/gatekeeper-0", Budgets: []string{"platform/gatekeeper"}}
	r = Roll(blocked)
	assert.Equal(t, result.Failed, r.Status)
	assert.Contains(t, r.Message, "PodEvictionFailure draining system-0 (node group gpu): pod platform/gatekeeper-0 cannot be evicted")
	assert.Contains(t, strings.Join(r.Details, "\n"), "with force")
	assert.True(t, RollBlockedBy(blocked, "platform/gatekeeper"))
	assert.False(t, RollBlockedBy(blocked, "platform/other"), "another budget did not block it")
	assert.False(t, RollBlockedBy(done, "platform/gatekeeper"), "a completed roll was blocked by nothing")

	stopped := done
	stopped.Err = errors.New("after draining node group gpu: not available again within 2m0s: Deployment ml/trainer")
	r = Roll(stopped)
	assert.Equal(t, result.Failed, r.Status)
	assert.Equal(t, stopped.Err.Error(), r.Message)
	assert.False(t, RollBlockedBy(stopped, "platform/gatekeeper"), "a roll stopped by anything but a budget was not blocked")

	r = Roll(rollout.Report{Group: "system"})
	assert.Equal(t, result.Passed, r.Status)
	assert.Equal(t, "node group system has no nodes: nothing to roll", r.Message)
}
