package change

import (
	"maps"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/deploy"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/engine"
)

func obj(kind, ns, name string, spec map[string]any) deploy.Object {
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": kind, "metadata": map[string]any{"name": name, "namespace": ns}, "spec": spec}}
	return deploy.Object{Unstructured: u}
}

// TestDiffListsAddedChangedRemovedPerApplication: one Application's objects compared by kind, namespace and name;
// an unchanged Application is left out; a changed object carries its unified diff.
func TestDiffListsAddedChangedRemovedPerApplication(t *testing.T) {
	base := Manifests{
		"platform-config": {"StatefulSet flyte/db": obj("StatefulSet", "flyte", "db", map[string]any{"replicas": int64(1)}),
			"Service flyte/db": obj("Service", "flyte", "db", map[string]any{"port": int64(5432)})},
		"flyte": {"Deployment flyte/flyte": obj("Deployment", "flyte", "flyte", nil)},
	}
	head := Manifests{
		"platform-config": {"StatefulSet flyte/db-v2": obj("StatefulSet", "flyte", "db-v2", map[string]any{"replicas": int64(1)}),
			"Service flyte/db": obj("Service", "flyte", "db", map[string]any{"port": int64(5433)})},
		"flyte": {"Deployment flyte/flyte": obj("Deployment", "flyte", "flyte", nil)},
	}
	apps := Diff(base, head)
	require.Len(t, apps, 1)
	a := apps[0]
	assert.Equal(t, "platform-config", a.Name)
	assert.Equal(t, []string{"StatefulSet flyte/db-v2"}, a.Added)
	assert.Equal(t, []string{"StatefulSet flyte/db"}, a.Removed)
	assert.Equal(t, []string{"Service flyte/db"}, a.Changed)
	assert.Contains(t, a.Diffs["Service flyte/db"], "-  port: 5432\n+  port: 5433")
}

// TestMovesAndReplaced: a workload whose pods run on another node group is a move (a pending pod counts as
// "pending"); pods deleted or recreated are counted per workload.
func TestMovesAndReplaced(t *testing.T) {
	before := engine.State{Pods: map[string]engine.PodAt{
		"kube-system/dp-a": {UID: "1", Workload: "DaemonSet kube-system/dp", Group: "gpu"},
		"flyte/db-0":       {UID: "2", Workload: "StatefulSet flyte/db", Group: "system"},
		"x/probe":          {UID: "3", Workload: "Pod x/probe", Group: "system"},
	}}
	after := engine.State{Pods: map[string]engine.PodAt{
		"kube-system/dp-b": {UID: "4", Workload: "DaemonSet kube-system/dp", Group: "system"},
		"flyte/db-0":       {UID: "2", Workload: "StatefulSet flyte/db", Group: "system"},
		"x/gpu-0":          {UID: "5", Workload: "Deployment x/gpu", Group: ""},
	}}
	moves := Moves(before, after)
	require.Len(t, moves, 2)
	assert.Equal(t, Move{Workload: "DaemonSet kube-system/dp", Before: []string{"gpu"}, After: []string{"system"}}, moves[0])
	assert.Equal(t, Move{Workload: "Deployment x/gpu", Before: []string{}, After: []string{"pending"}}, moves[1])
	assert.Equal(t, map[string]int{"DaemonSet kube-system/dp": 1}, Replaced(before, after))
}

func karpenterObj(kind, name string, spec map[string]any) deploy.Object {
	o := obj(kind, "", name, spec)
	o.SetAPIVersion("karpenter.sh/v1")
	if kind == "EC2NodeClass" {
		o.SetAPIVersion("karpenter.k8s.aws/v1")
	}
	return o
}

// TestDriftsFollowKarpentersRules: a change of a NodePool's template (a taint) or of its node class drifts every
// node it launched; a requirements change drifts only the nodes that no longer satisfy them; limits are behaviour,
// not drift; an unchanged NodePool is left out. Budgets are the NodePool's, or Karpenter's default.
func TestDriftsFollowKarpentersRules(t *testing.T) {
	pool := func(taint string, zones []any, gpus int64, class string) map[string]any {
		return map[string]any{
			"limits": map[string]any{"nvidia.com/gpu": gpus},
			"template": map[string]any{"spec": map[string]any{
				"taints":       []any{map[string]any{"key": taint, "effect": "NoSchedule"}},
				"requirements": []any{map[string]any{"key": "topology.kubernetes.io/zone", "operator": "In", "values": zones}},
				"nodeClassRef": map[string]any{"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": class},
			}},
		}
	}
	withBudget := pool("nvidia.com/gpu", []any{"us-east-1a"}, 2, "gpu")
	withBudget["disruption"] = map[string]any{"budgets": []any{map[string]any{"nodes": "1"}}}
	base := Manifests{"karpenter-node-pools": {
		"NodePool gpu":         karpenterObj("NodePool", "gpu", withBudget),
		"NodePool cpu":         karpenterObj("NodePool", "cpu", pool("x", []any{"us-east-1a"}, 0, "cpu")),
		"NodePool same":        karpenterObj("NodePool", "same", pool("x", []any{"us-east-1a"}, 0, "cpu")),
		"NodePool viaclass":    karpenterObj("NodePool", "viaclass", pool("x", []any{"us-east-1a"}, 0, "gpu")),
		"EC2NodeClass gpu":     karpenterObj("EC2NodeClass", "gpu", map[string]any{"role": "a"}),
		"EC2NodeClass cpu":     karpenterObj("EC2NodeClass", "cpu", map[string]any{"role": "a"}),
		"NodePool subnets":     karpenterObj("NodePool", "subnets", pool("x", []any{"us-east-1a"}, 0, "subnets")),
		"EC2NodeClass subnets": karpenterObj("EC2NodeClass", "subnets", map[string]any{"subnetSelectorTerms": []any{map[string]any{"tags": map[string]any{"a": "b"}}}}),
	}}
	headGPU := pool("nvidia.com/gpu.present", []any{"us-east-1a"}, 4, "gpu")
	headGPU["disruption"] = withBudget["disruption"]
	head := Manifests{"karpenter-node-pools": maps.Clone(base["karpenter-node-pools"])}
	for k, o := range map[string]deploy.Object{
		"NodePool gpu":         karpenterObj("NodePool", "gpu", headGPU),
		"NodePool cpu":         karpenterObj("NodePool", "cpu", pool("x", []any{"us-east-1b"}, 0, "cpu")),
		"EC2NodeClass gpu":     karpenterObj("EC2NodeClass", "gpu", map[string]any{"role": "b"}),
		"EC2NodeClass cpu":     karpenterObj("EC2NodeClass", "cpu", map[string]any{"role": "a", "ipPrefixCount": int64(2)}),
		"EC2NodeClass subnets": karpenterObj("EC2NodeClass", "subnets", map[string]any{"subnetSelectorTerms": []any{map[string]any{"tags": map[string]any{"b": "c"}}}}),
	} {
		head["karpenter-node-pools"][k] = o
	}
	ds := Drifts(base, head, engine.State{KarpenterNodes: map[string]int{"gpu": 3}})
	require.Len(t, ds, 4, "%+v", ds)
	cpu, gpu, subnets, via := ds[0], ds[1], ds[2], ds[3]
	assert.False(t, subnets.Replaces(), "selector terms drift only the nodes whose resolved subnets change")
	assert.Equal(t, []string{"spec.subnetSelectorTerms"}, subnets.Selectors)
	assert.Contains(t, subnets.Describe(), "its node class's spec.subnetSelectorTerms changed: its nodes (0 now) that no longer match drift")
	assert.True(t, cpu.Requirements)
	assert.False(t, cpu.Replaces())
	assert.Equal(t, []string{"nodes: 10% (Karpenter's default)"}, cpu.Budgets)
	assert.True(t, gpu.Replaces())
	assert.Equal(t, []string{"spec.template.spec.taints"}, gpu.Template)
	assert.Equal(t, "gpu", gpu.NodeClass)
	assert.Equal(t, []string{"spec.role"}, gpu.NodeClassFields)
	assert.Equal(t, []string{"spec.limits"}, gpu.Other)
	assert.Equal(t, "karpenter-node-pools", gpu.App)
	assert.Contains(t, gpu.Describe(), "every node it launched drifts and is replaced (3 now)")
	assert.Contains(t, gpu.Describe(), "disruption budgets nodes: 1")
	assert.Equal(t, "viaclass", via.NodePool)
	assert.True(t, via.Replaces(), "a node class change drifts the NodePools using it")
}
