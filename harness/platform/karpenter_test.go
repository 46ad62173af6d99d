package platform_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/platform"
)

// TestLocalDeclaresTheGPUNodePool reads local's NodePool from the rendered karpenter-nodepools chart.
func TestLocalDeclaresTheGPUNodePool(t *testing.T) {
	t.Parallel()
	p, err := platform.Load("../..", "local")
	require.NoError(t, err)
	require.NotNil(t, p.KarpenterApp())
	pools := p.NodePools()
	require.Len(t, pools, 1)
	np := pools[0]
	assert.Equal(t, "gpu", np.Name)
	assert.True(t, np.GPU())
	assert.Equal(t, []string{"g4dn"}, np.Families)
	assert.Equal(t, []string{"on-demand"}, np.CapacityTypes)
	require.NotNil(t, np.GPULimit)
	assert.EqualValues(t, 2, *np.GPULimit)
	assert.Equal(t, map[string]string{"node-role.mlops.io/gpu": "true", "nvidia.com/gpu.present": "true"}, np.Labels)
	assert.Equal(t, []corev1.Taint{{Key: "nvidia.com/gpu", Value: "true", Effect: corev1.TaintEffectNoSchedule}}, np.Taints)
	assert.Equal(t, "EC2NodeClass", np.NodeClassKind)
	assert.Equal(t, "1m", np.ConsolidateAfter)
	assert.Equal(t, "WhenEmpty", np.ConsolidationPolicy, "underutilized GPU nodes are not consolidated: that would evict training")
	assert.Equal(t, []platform.Budget{{Nodes: "100%", Reasons: []string{"Empty"}}, {Nodes: "1", Reasons: []string{"Drifted"}}}, np.Budgets)
	assert.True(t, np.Allows("g4dn.xlarge"))
	assert.False(t, np.Allows("g5.xlarge"))
	assert.False(t, np.Allows("g4dn.2xlarge"), "sized as the GPU node group")
	assert.Equal(t, []string{"xlarge"}, np.Sizes)
	assert.Len(t, p.NodeClasses(), 1)
	assert.True(t, p.InRepoCustomResources())

	for _, env := range []string{"dev", "prod"} {
		p, err := platform.Load("../..", env)
		require.NoError(t, err)
		assert.Nil(t, p.KarpenterApp(), env)
		assert.Empty(t, p.NodePools(), env)
	}
}
