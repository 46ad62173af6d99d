package engine

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynfake "k8s.io/client-go/dynamic/fake"
)

func judgedFixture(kind, name string, spec map[string]any, conds ...[2]string) *unstructured.Unstructured {
	var cs []any
	for _, c := range conds {
		cs = append(cs, map[string]any{"type": c[0], "status": c[1]})
	}
	group, version := "karpenter.k8s.aws", "v1"
	if kind == "NodePool" {
		group = "karpenter.sh"
	}
	u := &unstructured.Unstructured{Object: map[string]any{"spec": spec, "status": map[string]any{"conditions": cs}}}
	u.SetGroupVersionKind(schema.GroupVersionKind{Group: group, Version: version, Kind: kind})
	u.SetName(name)
	return u
}

// TestJudgedWaitsForANodePoolBehindItsNodeClass: a NodePool whose NodeClassReady (Karpenter's copy of its node
// class's Ready) disagrees with the node class as it stands now is not Karpenter's answer, however long it has
// stood unchanged: the wait goes on until Karpenter catches up. A NodePool that agrees with a node class that is
// not Ready is the answer once it has stood.
func TestJudgedWaitsForANodePoolBehindItsNodeClass(t *testing.T) {
	defer func(d time.Duration) { judgedSettle = d }(judgedSettle)
	judgedSettle = 500 * time.Millisecond
	ref := map[string]any{"template": map[string]any{"spec": map[string]any{"nodeClassRef": map[string]any{"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "gpu"}}}}
	objs := []judgedObject{{gvr: ec2NodeClassesGVR, kind: "EC2NodeClass", name: "gpu"}, {gvr: nodePoolsGVR, kind: "NodePool", name: "gpu"}}
	lists := map[schema.GroupVersionResource]string{ec2NodeClassesGVR: "EC2NodeClassList", nodePoolsGVR: "NodePoolList"}

	// The class is Ready; the NodePool still carries what Karpenter saw before (Node Class Readiness Unknown).
	dyn := dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), lists,
		judgedFixture("EC2NodeClass", "gpu", map[string]any{}, [2]string{"Ready", "True"}),
		judgedFixture("NodePool", "gpu", ref, [2]string{"NodeClassReady", "False"}, [2]string{"Ready", "False"}))
	go func() {
		time.Sleep(3 * time.Second) // Karpenter catches up, well after the settle time
		np := judgedFixture("NodePool", "gpu", ref, [2]string{"NodeClassReady", "True"}, [2]string{"Ready", "True"})
		_, err := dyn.Resource(nodePoolsGVR).Update(t.Context(), np, metav1.UpdateOptions{})
		assert.NoError(t, err)
	}()
	out, err := waitJudged(t.Context(), dyn, objs, 30*time.Second)
	require.NoError(t, err)
	require.Len(t, out, 2)
	assert.True(t, out[1].Ready, "the NodePool's verdict once Karpenter caught up with its class: %v", out[1].Conditions)

	// The class is not Ready and the NodePool says so: that is the answer, after the settle time.
	dyn = dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), lists,
		judgedFixture("EC2NodeClass", "gpu", map[string]any{}, [2]string{"Ready", "False"}, [2]string{"SubnetsReady", "False"}),
		judgedFixture("NodePool", "gpu", ref, [2]string{"NodeClassReady", "False"}, [2]string{"Ready", "False"}))
	t0 := time.Now()
	out, err = waitJudged(t.Context(), dyn, objs, 30*time.Second)
	require.NoError(t, err)
	assert.Less(t, time.Since(t0), 10*time.Second)
	assert.False(t, out[0].Ready)
	assert.False(t, out[1].Ready)
}
