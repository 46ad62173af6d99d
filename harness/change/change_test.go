package change

import (
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
