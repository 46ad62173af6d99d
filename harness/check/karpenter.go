package check

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/controllers/karpenter"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/controllers/karpenteraws"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/engine"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/platform"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
)

// NameNodePools is the static check of the platform's Karpenter NodePools.
const NameNodePools = "karpenter/nodepools"

// KarpenterNodePools checks the platform's NodePools against the GPU node group Terraform declares and against
// what the harness can emulate: a GPU NodePool's nodes carry the group's labels (workloads and the device plugin
// select them) and taints (system pods stay off), use its capacity type, are limited in GPUs (a spend ceiling),
// come from instance families the catalog knows, and can be removed when empty (the night's scale-to-zero).
func KarpenterNodePools(p *platform.Platform) result.Result {
	pools := p.NodePools()
	if len(pools) == 0 {
		return result.Pass(NameNodePools, "no Karpenter NodePool declared in %s", p.Env)
	}
	var v []string
	gpuPools := 0
	for _, np := range pools {
		at := fmt.Sprintf("%s: NodePool %s", np.Object.Source, np.Name)
		if _, _, err := karpenter.Translate(np.Object.Unstructured); err != nil {
			v = append(v, fmt.Sprintf("%s: %v", np.Object.Source, err))
		}
		if np.ConsolidateAfter == "Never" {
			v = append(v, fmt.Sprintf("%s: disruption.consolidateAfter Never: its empty nodes are never removed (the night's scale-to-zero leaves them running)", at))
		}
		for i, b := range np.Budgets {
			blocksEmpty := len(b.Reasons) == 0 || contains(b.Reasons, "Empty")
			if b.Schedule == "" && blocksEmpty && (b.Nodes == "0" || b.Nodes == "0%") {
				v = append(v, fmt.Sprintf("%s: disruption.budgets[%d] nodes %q at all times: empty nodes can never be removed (no nightly scale-to-zero)", at, i, b.Nodes))
			}
		}
		if !np.GPU() {
			continue
		}
		gpuPools++
		if len(np.Families) == 0 && len(np.Types) == 0 {
			v = append(v, fmt.Sprintf("%s: no karpenter.k8s.aws/instance-family or instance-type requirement: Karpenter may launch any instance type", at))
		}
		if np.GPULimit == nil {
			v = append(v, fmt.Sprintf("%s: no limits.nvidia.com/gpu: Karpenter's GPU spend is unbounded", at))
		}
		// Karpenter v1's default (and WhenEmptyOrUnderutilized) consolidates nodes that still run pods: a training
		// pod is evicted mid-run. Allowed only when a budget holds Underutilized disruption at zero at all times.
		if np.ConsolidationPolicy != "WhenEmpty" && !underutilizedBlocked(np) {
			policy := np.ConsolidationPolicy
			if policy == "" {
				policy = "unset (Karpenter v1's default WhenEmptyOrUnderutilized)"
			}
			v = append(v, fmt.Sprintf("%s: disruption.consolidationPolicy %s on a GPU NodePool: Karpenter evicts running GPU pods (training mid-run) to consolidate underutilized nodes; WhenEmpty removes only empty ones", at, policy))
		}
		for _, g := range p.Shape.Groups {
			if !g.Instance.GPU() {
				continue
			}
			for _, k := range sortedKeys(g.Labels) {
				if np.Labels[k] != g.Labels[k] {
					v = append(v, fmt.Sprintf("%s: its nodes lack the label %s=%s the GPU node group %s carries: workloads that select the GPU group (and the NVIDIA device plugin) never land on them", at, k, g.Labels[k], g.Name))
				}
			}
			for _, t := range g.Taints {
				if !hasTaint(np.Taints, t) {
					v = append(v, fmt.Sprintf("%s: its nodes lack the taint %s=%s:%s the GPU node group %s carries: pods that do not tolerate it (system pods) land on its GPU nodes", at, t.Key, t.Value, t.Effect, g.Name))
				}
			}
			if g.CapacityType == "ON_DEMAND" {
				for _, c := range np.CapacityTypes {
					if c != "on-demand" {
						v = append(v, fmt.Sprintf("%s: capacity type %s, but the GPU node group %s is ON_DEMAND: %s GPU nodes can be reclaimed mid-training", at, c, g.Name, c))
					}
				}
			}
		}
	}
	if len(v) > 0 {
		return result.Fail(NameNodePools, v, "%d problem(s): %s", len(v), v[0])
	}
	var names []string
	for _, np := range pools {
		lim := "no GPU limit"
		if np.GPULimit != nil {
			lim = fmt.Sprintf("at most %d GPUs", *np.GPULimit)
		}
		names = append(names, fmt.Sprintf("%s (%s, %s)", np.Name, strings.Join(append(np.Families, np.Types...), "/"), lim))
	}
	return result.Pass(NameNodePools, "%d NodePool(s) (%s), %d for GPUs: the GPU node group's labels, taints and capacity type, instance families the catalog knows, a GPU limit, empty nodes removable", len(pools), strings.Join(names, "; "), gpuPools)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// underutilizedBlocked reports whether a budget holds Underutilized consolidation at zero nodes at all times.
func underutilizedBlocked(np platform.NodePool) bool {
	for _, b := range np.Budgets {
		if b.Schedule == "" && (b.Nodes == "0" || b.Nodes == "0%") && (len(b.Reasons) == 0 || contains(b.Reasons, "Underutilized")) {
			return true
		}
	}
	return false
}

// NameKarpenter is the result of Karpenter's start.
const NameKarpenter = "karpenter"

// KarpenterStarted judges what engine.StartKarpenter did: skipped with its reason, failed with the start's error,
// or passed naming the controller, its instance types and every change made to the NodePools handed to it. With
// the AWS provider, Karpenter's own conditions on each EC2NodeClass are the verdict.
func KarpenterStarted(st engine.KarpenterStart, zone string, err error) result.Result {
	switch {
	case err != nil:
		return result.Fail(NameKarpenter, nil, "%v", err)
	case st.Skipped != "":
		return result.Skip(NameKarpenter, "%s", st.Skipped)
	}
	if st.Provider == engine.ProviderAWS {
		return karpenterAWS(st, zone)
	}
	r := result.Pass(NameKarpenter, "the real Karpenter %s (kwok cloud provider, %d instance types from the harness's catalog) runs against the cluster in place of the chart's pods, started in %s; %d NodePool(s) handed to it translated to the kwok node class (the only change)",
		karpenter.Version, st.InstanceTypes, st.Took.Round(100*time.Millisecond), st.Pools)
	r.Details = append(append([]string(nil), st.Changes...), "metrics and health ports: free ports on every interface (Karpenter binds \":port\"; loopback cannot be chosen without patching it)")
	return r
}

// karpenterAWS judges the AWS provider's start by Karpenter's own conditions: every EC2NodeClass Ready (its
// subnets, security groups, instance profile, AMIs and launch validation resolved against what Terraform creates)
// and every NodePool Ready (its node class found and ready), or failed with the conditions that are not True, in
// Karpenter's words. The subnets Karpenter resolved must lie in the node zone (the single-AZ data plane).
func karpenterAWS(st engine.KarpenterStart, zone string) result.Result {
	var bad, details, names []string
	for _, nc := range st.NodeClasses {
		line := fmt.Sprintf("%s %s (%s): %s", nc.Kind, nc.Name, nc.Source, strings.Join(nc.Conditions, ", "))
		if len(nc.Zones) > 0 {
			line += "; subnets resolved in " + strings.Join(nc.Zones, ", ")
		}
		details = append(details, line)
		if nc.Kind == "EC2NodeClass" {
			names = append(names, nc.Name)
			for _, z := range nc.Zones {
				if zone != "" && z != zone {
					bad = append(bad, fmt.Sprintf("%s: EC2NodeClass %s: Karpenter resolved a subnet in %s (its subnetSelectorTerms match it): it launches nodes outside the node zone %s (single-AZ data plane)", nc.Source, nc.Name, z, zone))
				}
			}
		}
		if nc.Ready {
			continue
		}
		var why []string
		for _, c := range nc.Conditions {
			if !strings.Contains(c, "=True") && !strings.HasPrefix(c, "Ready=") && !strings.HasPrefix(c, "NodeRegistrationHealthy=") {
				why = append(why, c)
			}
		}
		if len(why) == 0 {
			why = nc.Conditions
		}
		bad = append(bad, fmt.Sprintf("%s: %s %s not Ready by Karpenter's own conditions: %s", nc.Source, nc.Kind, nc.Name, strings.Join(why, ", ")))
	}
	details = append(details, st.Changes...)
	if st.AWSSide > 0 {
		where := "before the provider started"
		if st.AWSSideAhead {
			where = "beside the deploy, ahead of this step"
		}
		details = append(details, fmt.Sprintf("moto and the emulated apply of terraform/ came up in %s, %s", st.AWSSide.Round(100*time.Millisecond), where))
	}
	if len(bad) > 0 {
		return result.Fail(NameKarpenter, append(bad, details...), "%d problem(s): %s", len(bad), bad[0])
	}
	r := result.Pass(NameKarpenter, "the real Karpenter AWS provider %s (kwok mode) judged EC2NodeClass %s and %d NodePool(s), unchanged, Ready by its own conditions (subnets in %s and security groups by their selectors, instance profile, AMIs through SSM, launch validation) against moto holding the %d resource instances Terraform declares, in %s",
		karpenteraws.Version, strings.Join(names, ", "), st.Pools, zone, st.AWSCreated, st.Took.Round(100*time.Millisecond))
	r.Details = details
	return r
}

// prepareKarpenter brings up, beside the deploy, the AWS side the Karpenter AWS provider runs against (moto and the
// emulated apply of terraform/: they need no cluster), when the run's karpenter step will run that provider.
func (r *Run) prepareKarpenter(ctx context.Context) {
	if r.Karpenter == nil || r.Env == nil || !slices.ContainsFunc(r.steps, func(s Step) bool { return slices.Contains(s.Names, NameKarpenter) }) {
		return
	}
	r.PrepareKarpenterAWS(ctx, *r.Karpenter)
}
