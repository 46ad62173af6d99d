package check

import (
	"fmt"
	"slices"
	"time"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/rollout"
)

// Roll judges a node group's roll (rollout.RollNodeGroup, for `harness rehearse` and the rollNodeGroup scenario
// step): passed when it completed — every workload available before is available again, GPU pods on the new nodes,
// the old nodes gone; failed where it stopped, and, when a PodDisruptionBudget refused an eviction for the whole
// timeout, as EKS's PodEvictionFailure, saying what a forced update would have done instead.
func Roll(rep rollout.Report) result.Result {
	name := rollout.NameRoll(rep.Group)
	switch {
	case rep.Blocked != nil:
		return result.Fail(name, []string{"with force (EKS's forced update, --force) the pod would be deleted regardless of the budget: the workload's availability promise broken instead of the update failing"},
			"PodEvictionFailure draining %s (node group %s): %v", rep.Blocked.Node, rep.Group, rep.Err)
	case rep.Err != nil:
		return result.Fail(name, nil, "%v", rep.Err)
	case len(rep.Old) == 0:
		return result.Pass(name, "node group %s has no nodes: nothing to roll", rep.Group)
	}
	msg := fmt.Sprintf("node group %s rolled to %s in %s: %d node(s) surged, %d cordoned and drained (%d pod(s) evicted through the Eviction API, budgets honoured), %d workload(s) available again",
		rep.Group, rep.KubeletVersion, rep.Duration.Round(100*time.Millisecond), len(rep.Fresh), len(rep.Old), rep.Evicted, len(rep.Available))
	if rep.GPUOnNew > 0 {
		msg += fmt.Sprintf("; %d GPU pod(s) running on the new nodes", rep.GPUOnNew)
	}
	msg += "; old nodes removed"
	if rep.Forced > 0 {
		msg += fmt.Sprintf("; %d pod(s) deleted by force past their budget", rep.Forced)
	}
	r := result.Pass(name, "%s", msg)
	r.Duration = rep.Duration
	return r
}

// RollBlockedBy reports whether a roll stopped because the PodDisruptionBudget budget (namespace/name) refused an
// eviction: what a scenario expecting the roll to be blocked asks.
func RollBlockedBy(rep rollout.Report, budget string) bool {
	return rep.Blocked != nil && slices.Contains(rep.Blocked.Budgets, budget)
}

// ScenarioStep is a scenario step's result: failed with its error, skipped with its reason, or passed with what it did
// (the scenario runner judges a step's expectation; this turns its outcome into the verdict).
func ScenarioStep(name, msg, skipped string, err error) result.Result {
	switch {
	case err != nil:
		return result.Result{Name: name, Status: result.Failed, Message: err.Error()}
	case skipped != "":
		return result.Result{Name: name, Status: result.Skipped, Message: skipped}
	}
	return result.Result{Name: name, Status: result.Passed, Message: msg}
}
