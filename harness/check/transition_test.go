package check

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/engine"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
)

func state(held ...engine.Held) engine.State {
	s := engine.State{Data: map[string]engine.Held{}, CRDs: map[string]engine.CRDVersions{}}
	for _, h := range held {
		s.Data[h.Key()] = h
	}
	return s
}

// TestDataLossNamesWhatAChangeDeletesOrReplaces: a StatefulSet gone or recreated (new UID) and a CRD deleted with
// its stored objects fail; a kept object, a CRD storing nothing, and a loss declared (flag or annotation) pass.
func TestDataLossNamesWhatAChangeDeletesOrReplaces(t *testing.T) {
	db := engine.Held{Kind: "StatefulSet", Namespace: "flyte", Name: "flyte-db", UID: "1"}
	pvc := engine.Held{Kind: "PersistentVolumeClaim", Namespace: "flyte", Name: "data-flyte-db-0", UID: "2"}
	crd := engine.Held{Kind: "CustomResourceDefinition", Name: "rayjobs.ray.io", UID: "3", Objects: 2}
	empty := engine.Held{Kind: "CustomResourceDefinition", Name: "x.example.com", UID: "4"}
	before := state(db, pvc, crd, empty)

	r := DataLoss(Transition{Before: before, After: state(db, pvc, crd)})
	assert.Equal(t, result.Passed, r.Status, r.Message)

	r = DataLoss(Transition{Before: before, After: state(pvc)})
	assert.Equal(t, result.Failed, r.Status)
	assert.Contains(t, r.Message, "StatefulSet flyte/flyte-db deleted")
	assert.Contains(t, r.Message, "CustomResourceDefinition rayjobs.ray.io deleted, with the 2 object(s) of its kind")

	recreated := db
	recreated.UID = "9"
	r = DataLoss(Transition{Before: before, After: state(recreated, pvc, crd)})
	assert.Equal(t, result.Failed, r.Status)
	assert.Contains(t, r.Message, "replaced")

	renamed := engine.Held{Kind: "StatefulSet", Namespace: "flyte", Name: "flyte-db-v2", UID: "5",
		Annotations: map[string]string{ReplacesAnnotation: "StatefulSet flyte/flyte-db"}}
	r = DataLoss(Transition{Before: before, After: state(renamed, pvc, crd)})
	assert.Equal(t, result.Passed, r.Status, r.Message)
	assert.Contains(t, r.Message, "1 lost as declared")

	r = DataLoss(Transition{Before: before, After: state(pvc, crd), Allowed: []string{"StatefulSet flyte/flyte-db"}})
	assert.Equal(t, result.Passed, r.Status, r.Message)
}

// TestCRDVersionsFailsWhenAStoredVersionIsNoLongerServed: a chart bump whose CRD stops serving the version its
// objects are stored in fails naming the CRD and the version; a new version served beside it passes.
func TestCRDVersionsFailsWhenAStoredVersionIsNoLongerServed(t *testing.T) {
	before := engine.State{CRDs: map[string]engine.CRDVersions{"nodepools.karpenter.sh": {Served: []string{"v1beta1"}, Stored: []string{"v1beta1"}}}}
	ok := engine.State{CRDs: map[string]engine.CRDVersions{"nodepools.karpenter.sh": {Served: []string{"v1", "v1beta1"}, Stored: []string{"v1beta1"}}}}
	r := CRDVersions(Transition{Before: before, After: ok})
	assert.Equal(t, result.Passed, r.Status, r.Message)
	dropped := engine.State{CRDs: map[string]engine.CRDVersions{"nodepools.karpenter.sh": {Served: []string{"v1"}, Stored: []string{"v1beta1"}}}}
	r = CRDVersions(Transition{Before: before, After: dropped})
	assert.Equal(t, result.Failed, r.Status)
	assert.Contains(t, r.Message, "nodepools.karpenter.sh: objects stored at v1beta1, which the change no longer serves")
}

// TestDisruptionFailsWhenAChangeTakesABudgetBelowWhatItAsks: a budget whose healthy pods fell below its desired
// count during the change fails, naming the budget, its workload and the pods replaced; a budget that held, one
// already short before the change, and one asking for nothing pass; a watch cut short is skipped, not passed.
func TestDisruptionFailsWhenAChangeTakesABudgetBelowWhatItAsks(t *testing.T) {
	flyte := engine.BudgetSeen{Namespace: "flyte", Name: "flyte", Rule: "minAvailable 1", Desired: 1, Start: 1, Lowest: 1, Workloads: []string{"Deployment flyte/flyte-binary"}}
	short := engine.BudgetSeen{Namespace: "ray", Name: "head", Rule: "minAvailable 2", Desired: 2, Start: 1, Lowest: 0, Workloads: []string{"StatefulSet ray/head"}}
	none := engine.BudgetSeen{Namespace: "x", Name: "y", Rule: "maxUnavailable 100%", Desired: 0, Start: 1, Lowest: 0}
	replaced := map[string]int{"Deployment flyte/flyte-binary": 1}

	r := Disruption(Transition{Budgets: []engine.BudgetSeen{flyte, short, none}, Replaced: replaced})
	assert.Equal(t, result.Passed, r.Status, r.Message)
	assert.Contains(t, r.Message, "1 PodDisruptionBudget(s) held")
	assert.Len(t, r.Details, 2, "the budgets not judged are named")

	down := flyte
	down.Lowest = 0
	r = Disruption(Transition{Budgets: []engine.BudgetSeen{down, short}, Replaced: replaced})
	assert.Equal(t, result.Failed, r.Status)
	assert.Contains(t, r.Message, "PodDisruptionBudget flyte/flyte (minAvailable 1: 1 healthy pod(s) wanted) of Deployment flyte/flyte-binary fell to 0 healthy pod(s) during the change (Deployment flyte/flyte-binary: 1 pod(s) replaced)")

	r = Disruption(Transition{Budgets: []engine.BudgetSeen{down}, WatchErr: assert.AnError})
	assert.Equal(t, result.Skipped, r.Status)
}
