package check

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/engine"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
)

// ReplacesAnnotation on an object of the change says which data-holding object of the base it replaces on
// purpose ("Kind namespace/name", or several, comma-separated): its deletion is then meant, not data loss.
const ReplacesAnnotation = "harness.mlops.io/replaces"

// Transition is what syncing a change over its base did to the cluster (`harness diff`).
type Transition struct {
	Before, After engine.State
	// Allowed are data-holding objects ("Kind namespace/name") whose loss the user declared meant
	// (--allow-data-loss).
	Allowed []string
	// Budgets are the base's PodDisruptionBudgets as the change's sync left them (engine.WatchBudgets), WatchErr
	// the error that cut that watch short; Replaced the pods replaced per workload (change.Replaced).
	Budgets  []engine.BudgetSeen
	WatchErr error
	Replaced map[string]int
}

// TransitionSteps judges a transition: diff/data-loss (no PersistentVolumeClaim, StatefulSet or CRD that stores
// objects deleted or replaced unless declared meant) and diff/crd-versions (every version a CRD's objects are
// stored in still served) and diff/disruption (the pods the change restarted stayed within their
// PodDisruptionBudgets).
func TransitionSteps(t Transition) []result.Result {
	return []result.Result{DataLoss(t), CRDVersions(t), Disruption(t)}
}

// Disruption fails when, while the change synced, a PodDisruptionBudget that held before it had fewer healthy
// pods than it asks for: the change took down what the budget says must stay up. Budgets guard evictions (a
// drain, Karpenter's disruption), not rollouts: a Deployment with the Recreate strategy, a StatefulSet's
// one-by-one restart of a single replica, a pod template change that outruns maxUnavailable all go below the
// budget and nothing stops them. A budget already short before the change is reported, not judged.
func Disruption(t Transition) result.Result {
	const name = "diff/disruption"
	if t.WatchErr != nil {
		return result.Skip(name, "the pods could not be followed through the change's sync: %v", t.WatchErr)
	}
	var below, notes []string
	held := 0
	for _, b := range t.Budgets {
		at := fmt.Sprintf("%s (%s: %d healthy pod(s) wanted) of %s", b.Key(), b.Rule, b.Desired, strings.Join(b.Workloads, ", "))
		switch {
		case b.Desired == 0:
			notes = append(notes, at+": asks for no healthy pod, not judged")
		case b.Start < b.Desired:
			notes = append(notes, fmt.Sprintf("%s: already short before the change (%d healthy), not judged", at, b.Start))
		case b.Lowest < b.Desired:
			var replaced []string
			for _, w := range b.Workloads {
				if n := t.Replaced[w]; n > 0 {
					replaced = append(replaced, fmt.Sprintf("%s: %d pod(s) replaced", w, n))
				}
			}
			why := "its pods went unready"
			if len(replaced) > 0 {
				why = strings.Join(replaced, ", ")
			}
			below = append(below, fmt.Sprintf("%s fell to %d healthy pod(s) during the change (%s)", at, b.Lowest, why))
		default:
			held++
		}
	}
	restarted := 0
	for _, n := range t.Replaced {
		restarted += n
	}
	if len(below) > 0 {
		return result.Fail(name, append(below, notes...), "%d PodDisruptionBudget(s) broken by the change itself (a rollout is not an eviction: the budget does not stop it; use a RollingUpdate with maxUnavailable 0, more replicas, or accept the downtime): %s",
			len(below), below[0])
	}
	r := result.Pass(name, "%d PodDisruptionBudget(s) held throughout the change's sync; %d pod(s) replaced", held, restarted)
	r.Details = notes
	return r
}

// DataLoss fails when an object holding data before the change is gone after it, or was replaced (same name, a
// new UID: deleted and created again, as a renamed or recreated StatefulSet is), unless the loss is declared
// meant: --allow-data-loss names it, or an object of the change carries ReplacesAnnotation naming it. A CRD
// counts when objects of its kind were stored (deleting it deletes them).
func DataLoss(t Transition) result.Result {
	const name = "diff/data-loss"
	meant := map[string]string{}
	for _, k := range t.Allowed {
		meant[k] = "--allow-data-loss"
	}
	for _, h := range t.After.Data {
		for _, k := range strings.Split(h.Annotations[ReplacesAnnotation], ",") {
			if k = strings.TrimSpace(k); k != "" {
				meant[k] = fmt.Sprintf("%s on %s", ReplacesAnnotation, h.Key())
			}
		}
	}
	var lost, declared []string
	kept := 0
	for _, k := range slices.Sorted(maps.Keys(t.Before.Data)) {
		b := t.Before.Data[k]
		if b.Kind == "CustomResourceDefinition" && b.Objects == 0 {
			continue
		}
		a, ok := t.After.Data[k]
		what := ""
		switch {
		case !ok:
			what = "deleted"
		case a.UID != b.UID:
			what = "replaced (deleted and created again)"
		default:
			kept++
			continue
		}
		if b.Kind == "CustomResourceDefinition" {
			what += fmt.Sprintf(", with the %d object(s) of its kind", b.Objects)
		}
		if why, ok := meant[k]; ok {
			declared = append(declared, fmt.Sprintf("%s %s: meant (%s)", k, what, why))
			continue
		}
		lost = append(lost, fmt.Sprintf("%s %s", k, what))
	}
	if len(lost) > 0 {
		return result.Fail(name, append(lost, declared...), "%d object(s) holding data lost by the change: %s (if meant: annotate the object replacing it %s: \"<Kind namespace/name>\", or pass --allow-data-loss \"<Kind namespace/name>\")",
			len(lost), strings.Join(lost, "; "), ReplacesAnnotation)
	}
	r := result.Pass(name, "%d object(s) holding data (PersistentVolumeClaims, StatefulSets, CRDs storing objects) kept", kept)
	if len(declared) > 0 {
		r.Message += fmt.Sprintf("; %d lost as declared", len(declared))
	}
	r.Details = declared
	return r
}

// CRDVersions fails when a version the objects of a CRD are stored in (status.storedVersions, before or after the
// change) is no longer served after it: those objects cannot be read at that version, and clients using it break
// (a chart bump that drops a version must first migrate the stored objects).
func CRDVersions(t Transition) result.Result {
	const name = "diff/crd-versions"
	var bad []string
	checked := 0
	for _, n := range slices.Sorted(maps.Keys(t.After.CRDs)) {
		a := t.After.CRDs[n]
		stored := append(append([]string(nil), t.Before.CRDs[n].Stored...), a.Stored...)
		checked++
		for _, v := range slices.Compact(slices.Sorted(slices.Values(stored))) {
			if !slices.Contains(a.Served, v) {
				bad = append(bad, fmt.Sprintf("%s: objects stored at %s, which the change no longer serves (served: %s)", n, v, strings.Join(a.Served, ", ")))
			}
		}
	}
	if len(bad) > 0 {
		return result.Fail(name, bad, "%d CRD version(s) holding stored objects no longer served: %s", len(bad), bad[0])
	}
	return result.Pass(name, "%d CRD(s): every stored version still served", checked)
}
