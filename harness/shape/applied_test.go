package shape

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
)

// An output as `terraform output -json node_groups` prints it after an apply that differs from the static
// reading: AWS scaled the GPU group to 2 and the taint value differs.
const appliedOutput = `{
  "gpu": {"name": "gpu", "instance_types": ["g4dn.xlarge"], "capacity_type": "ON_DEMAND",
          "labels": {"node-role.mlops.io/gpu": "true"},
          "taints": [{"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}],
          "min_size": 0, "max_size": 3, "desired_size": 2},
  "system": {"name": "system", "instance_types": ["t3.large"], "capacity_type": "ON_DEMAND",
             "labels": {"node-role.mlops.io/system": "true"}, "taints": [],
             "min_size": 2, "max_size": 3, "desired_size": 2}
}`

func TestAppliedNodeGroupsReplaceTheStaticReading(t *testing.T) {
	t.Parallel()
	s, err := Load(terraformDir, "local")
	require.NoError(t, err)
	var out any
	require.NoError(t, json.Unmarshal([]byte(appliedOutput), &out))
	applied, err := s.WithAppliedNodeGroups(out)
	require.NoError(t, err)
	gpu, ok := applied.Group("gpu")
	require.True(t, ok)
	assert.Equal(t, 2, gpu.DesiredSize)
	assert.Equal(t, []corev1.Taint{{Key: "nvidia.com/gpu", Value: "present", Effect: corev1.TaintEffectNoSchedule}}, gpu.Taints)
	assert.Equal(t, "AL2023_x86_64_NVIDIA", gpu.AMIType, "kept from the static reading")
	assert.Len(t, applied.Nodes(), 4)
	orig, _ := s.Group("gpu")
	assert.Equal(t, 1, orig.DesiredSize, "the original shape is not changed")

	_, err = s.WithAppliedNodeGroups(map[string]any{"gpu": map[string]any{"instance_types": []string{"x9.huge"}}})
	assert.ErrorContains(t, err, `unknown instance type "x9.huge"`)
}
