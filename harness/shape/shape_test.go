package shape

import (
	"os"
	"path/filepath"
	"testing"

	nvidia "github.com/eks-mlops/eks-mlops-enterprise-grade/harness/gpu"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
)

const terraformDir = "../../terraform"

var gpuTaint = corev1.Taint{Key: "nvidia.com/gpu", Value: "true", Effect: corev1.TaintEffectNoSchedule}

func TestLoadEnvironments(t *testing.T) {
	t.Parallel()
	tests := []struct {
		env                string
		systemDesired      int
		gpuDesired, gpuMax int
	}{
		{"local", 2, 1, 3},
		{"dev", 2, 1, 3},
		{"prod", 3, 1, 4},
	}
	for _, tc := range tests {
		t.Run(tc.env, func(t *testing.T) {
			t.Parallel()
			s, err := Load(terraformDir, tc.env)
			require.NoError(t, err)
			assert.Equal(t, tc.env, s.Environment)
			assert.Equal(t, "mlops-"+tc.env, s.ClusterName)
			assert.Equal(t, "us-east-1", s.Region)
			assert.Equal(t, "us-east-1a", s.Zone)
			require.Len(t, s.Groups, 2)

			gpu, ok := s.Group("gpu")
			require.True(t, ok)
			assert.Equal(t, "g4dn.xlarge", gpu.Instance.Name)
			assert.Equal(t, "ON_DEMAND", gpu.CapacityType)
			assert.Equal(t, 0, gpu.MinSize)
			assert.Equal(t, tc.gpuDesired, gpu.DesiredSize)
			assert.Equal(t, tc.gpuMax, gpu.MaxSize)
			assert.Equal(t, []corev1.Taint{gpuTaint}, gpu.Taints)

			sys, ok := s.Group("system")
			require.True(t, ok)
			assert.Equal(t, "t3.large", sys.Instance.Name)
			assert.Empty(t, sys.Taints)
			assert.Equal(t, tc.systemDesired, sys.DesiredSize)
			assert.Len(t, s.Nodes(), tc.systemDesired+tc.gpuDesired)
		})
	}
}

func TestNodesCarryEKSLabelsAndCapacity(t *testing.T) {
	t.Parallel()
	s, err := Load(terraformDir, "local")
	require.NoError(t, err)
	nodes := s.Nodes()
	require.Len(t, nodes, 3)
	gpu := nodes[0]
	require.Equal(t, "gpu-0", gpu.Name)
	assert.Equal(t, map[string]string{
		"eks.amazonaws.com/nodegroup":      "gpu",
		"eks.amazonaws.com/capacityType":   "ON_DEMAND",
		"eks.amazonaws.com/compute-type":   "ec2",
		"node.kubernetes.io/instance-type": "g4dn.xlarge",
		"topology.kubernetes.io/region":    "us-east-1",
		"topology.kubernetes.io/zone":      "us-east-1a",
		"kubernetes.io/hostname":           "gpu-0",
		"kubernetes.io/os":                 "linux",
		"kubernetes.io/arch":               "amd64",
		"node-role.mlops.io/gpu":           "true",
		"nvidia.com/gpu.present":           "true",
	}, gpu.Labels)
	assert.Equal(t, "1", ptr(gpu.Capacity[nvidia.Resource]).String())
	assert.Equal(t, "29", ptr(gpu.Capacity[corev1.ResourcePods]).String())
	assert.Equal(t, "4", ptr(gpu.Capacity[corev1.ResourceCPU]).String())
	assert.Equal(t, "3920m", ptr(gpu.Allocatable[corev1.ResourceCPU]).String())
	assert.Equal(t, []corev1.Taint{gpuTaint}, gpu.Object().Spec.Taints)

	sys := nodes[1]
	assert.Equal(t, "system-0", sys.Name)
	assert.Equal(t, "35", ptr(sys.Capacity[corev1.ResourcePods]).String())
	_, hasGPU := sys.Capacity[nvidia.Resource]
	assert.False(t, hasGPU)
	// 8 GiB less the VM's 7.5% (614 MiB), less (255 + 11*35 + 100) MiB.
	assert.Equal(t, int64(8192-614)<<20, ptr(sys.Capacity[corev1.ResourceMemory]).Value())
	assert.Equal(t, int64(8192-614-740)<<20, ptr(sys.Allocatable[corev1.ResourceMemory]).Value())
	// Ephemeral storage follows each group's disk_size (GPU 100 GiB, system 50 GiB), less 1 GiB reserved and
	// the 10% eviction threshold.
	assert.Equal(t, "100Gi", ptr(gpu.Capacity[corev1.ResourceEphemeralStorage]).String())
	assert.Equal(t, int64(100<<30-100<<30/10-1<<30), ptr(gpu.Allocatable[corev1.ResourceEphemeralStorage]).Value())
	assert.Equal(t, "50Gi", ptr(sys.Capacity[corev1.ResourceEphemeralStorage]).String())
}

func ptr[T any](v T) *T { return &v }

func TestCatalog(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		gpus    int
		maxPods int
		price   float64
	}{
		{"t3.large", 0, 35, 0.0832},
		{"g4dn.xlarge", 1, 29, 0.526},
		{"p4d.24xlarge", 8, 737, 32.7726},
	} {
		it, err := Lookup(tc.name)
		require.NoError(t, err)
		assert.Equal(t, tc.gpus, it.GPUs, tc.name)
		assert.Equal(t, tc.maxPods, it.MaxPods, tc.name)
		assert.InDelta(t, tc.price, it.OnDemandUSDPerHour, 1e-9, tc.name)
	}
	families := map[string]bool{}
	for _, it := range InstanceTypes() {
		families[it.Name[:len(it.Name)-len(filepath.Ext(it.Name))]] = true
	}
	for _, f := range []string{"t3", "m5", "m6i", "m7i", "c5", "r5", "g4dn", "g5", "g6", "p3", "p4d", "p5"} {
		assert.True(t, families[f], "catalog lacks family %s", f)
	}
	_, err := Lookup("g4dn.huge")
	assert.ErrorContains(t, err, `unknown instance type "g4dn.huge"`)
}

// copyTerraform copies the real variables.tf into a temp dir with the given tfvars, so a test can break one thing.
func copyTerraform(t *testing.T, tfvars string) (dir, tfvarsPath string) {
	t.Helper()
	dir = t.TempDir()
	src, err := os.ReadFile(filepath.Join(terraformDir, "variables.tf"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "variables.tf"), src, 0o644))
	tfvarsPath = filepath.Join(dir, "test.tfvars")
	require.NoError(t, os.WriteFile(tfvarsPath, []byte(tfvars), 0o644))
	return dir, tfvarsPath
}

const gpuGroup = `
node_groups = {
  gpu = {
    instance_types = ["g4dn.xlarge"]
    min_size       = 0
    max_size       = 3
    desired_size   = 2
    taints = [{
      key    = "nvidia.com/gpu"
      value  = "present"
      effect = "NO_EXECUTE"
    }]
  }
}
`

func TestTfvarsOverrideReplacesDefault(t *testing.T) {
	t.Parallel()
	dir, tfvars := copyTerraform(t, `environment = "dev"`+gpuGroup)
	s, err := LoadFiles(dir, tfvars)
	require.NoError(t, err)
	require.Len(t, s.Groups, 1, "a tfvars value replaces the whole map, as in Terraform")
	g := s.Groups[0]
	assert.Equal(t, 2, g.DesiredSize)
	assert.Equal(t, "ON_DEMAND", g.CapacityType, "optional() default applied")
	assert.Equal(t, []corev1.Taint{{Key: "nvidia.com/gpu", Value: "present", Effect: corev1.TaintEffectNoExecute}}, g.Taints)
	assert.Len(t, s.Nodes(), 2)
}

func TestBadInputNamesFileLineAndField(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, tfvars, want string
	}{
		{"unknown instance type", `environment = "dev"
node_groups = {
  gpu = {
    instance_types = ["g4dn.xlarge", "g9z.mega"]
    min_size = 0
    max_size = 1
    desired_size = 1
  }
}`, `test.tfvars:4:38: node_groups.gpu.instance_types[1]: unknown instance type "g9z.mega"`},
		{"malformed tfvars", "environment = \"dev\"\nnode_groups = {\n  gpu = {\n", `test.tfvars:4:1: Missing expression`},
		{"missing attribute", `environment = "dev"
node_groups = {
  gpu = {
    instance_types = ["g4dn.xlarge"]
    max_size = 1
    desired_size = 1
  }
}`, `test.tfvars:3:9: node_groups.gpu: does not match the declared type: attribute "min_size" is required`},
		{"bad taint effect", `environment = "dev"
node_groups = {
  gpu = {
    instance_types = ["g4dn.xlarge"]
    min_size = 0
    max_size = 1
    desired_size = 1
    taints = [{ key = "nvidia.com/gpu", effect = "NoSchedule" }]
  }
}`, `test.tfvars:8:50: node_groups.gpu.taints[0].effect: "NoSchedule" is not NO_SCHEDULE`},
		{"sizes out of order", `environment = "dev"
node_groups = {
  gpu = {
    instance_types = ["g4dn.xlarge"]
    min_size = 0
    max_size = 1
    desired_size = 2
  }
}`, `test.tfvars:3:9: node_groups.gpu: sizes must satisfy`},
		{"undeclared variable", "environment = \"dev\"\nnode_group = {}\n", `test.tfvars:2:1: node_group: no variable "node_group" is declared`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir, tfvars := copyTerraform(t, tc.tfvars)
			_, err := LoadFiles(dir, tfvars)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			var se *Error
			assert.ErrorAs(t, err, &se)
		})
	}
}

func TestMissingNodeGroupsVariable(t *testing.T) {
	t.Parallel()
	_, err := LoadFiles("testdata/broken", "")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `node_groups: variable "node_groups" is not declared`)
}

func TestUnknownEnvironment(t *testing.T) {
	t.Parallel()
	_, err := Load(terraformDir, "staging")
	assert.ErrorContains(t, err, `environment "staging" has no tfvars file`)
}
