package local

import (
	"os"
	"path/filepath"
	"sort"
	"testing"

	nvidia "github.com/eks-mlops/eks-mlops-enterprise-grade/harness/gpu"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cluster/node"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/shape"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/test/testenv"
)

// nodeView is what must match between Terraform and the running cluster.
type nodeView struct {
	Name, Group, InstanceType, CapacityType, Zone string
	Taints                                        []corev1.Taint
	GPUs, Pods                                    int64
}

func viewsFromShape(s *shape.Shape) []nodeView {
	var out []nodeView
	for _, n := range s.Nodes() {
		gpus := n.Capacity[nvidia.Resource]
		pods := n.Capacity[corev1.ResourcePods]
		out = append(out, nodeView{n.Name, n.Group, n.Instance.Name, n.CapacityType, n.Labels[shape.LabelZone],
			n.Taints, gpus.Value(), pods.Value()})
	}
	return out
}

func viewsFromCluster(t *testing.T, nodes []corev1.Node) []nodeView {
	t.Helper()
	var out []nodeView
	for _, n := range nodes {
		assert.True(t, node.Ready(&n), "node %s Ready", n.Name)
		gpus := n.Status.Allocatable[nvidia.Resource]
		pods := n.Status.Allocatable[corev1.ResourcePods]
		var taints []corev1.Taint
		for _, tt := range n.Spec.Taints {
			taints = append(taints, corev1.Taint{Key: tt.Key, Value: tt.Value, Effect: tt.Effect})
		}
		out = append(out, nodeView{n.Name, n.Labels[shape.LabelNodeGroup], n.Labels[shape.LabelInstanceType],
			n.Labels[shape.LabelCapacityType], n.Labels[shape.LabelZone], taints, gpus.Value(), pods.Value()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// TestNodesMatchTerraform starts a cluster per environment, and for Terraform changed in a temporary copy, and
// compares the running nodes with the node groups.
func TestNodesMatchTerraform(t *testing.T) {
	t.Parallel()
	changed := filepath.Join(t.TempDir(), "terraform")
	require.NoError(t, os.CopyFS(changed, os.DirFS(testenv.TerraformDir())))
	tfvars := filepath.Join(changed, "env", "local.tfvars")
	require.NoError(t, os.WriteFile(tfvars, []byte(`environment = "local"
node_groups = {
  system = {
    instance_types = ["m6i.large"]
    min_size = 1
    max_size = 3
    desired_size = 1
  }
  gpu = {
    instance_types = ["g5.12xlarge"]
    ami_type       = "AL2023_x86_64_NVIDIA"
    min_size = 0
    max_size = 4
    desired_size = 3
    taints = [{ key = "nvidia.com/gpu", value = "a10g", effect = "NO_EXECUTE" }]
  }
}
`), 0o644))
	changedShape, err := shape.Load(changed, "local")
	require.NoError(t, err)

	tests := []struct {
		name  string
		shape *shape.Shape
		nodes int
	}{
		{"local", testenv.MustShape(t, "local"), 3},
		{"prod", testenv.MustShape(t, "prod"), 4},
		{"changed taint and size", changedShape, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, cs := testenv.MustEmbedded(t, tc.shape)
			list, err := cs.CoreV1().Nodes().List(t.Context(), metav1.ListOptions{})
			require.NoError(t, err)
			require.Len(t, list.Items, tc.nodes)
			assert.Equal(t, viewsFromShape(tc.shape), viewsFromCluster(t, list.Items))
		})
	}
	gpu, _ := changedShape.Group("gpu")
	assert.Equal(t, []corev1.Taint{{Key: "nvidia.com/gpu", Value: "a10g", Effect: corev1.TaintEffectNoExecute}}, gpu.Taints)
	assert.Equal(t, 4, gpu.Instance.GPUs)
}
