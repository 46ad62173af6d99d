package check

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/test/testenv"
)

const root = "../.."

func TestConsistencyPassesForEveryEnvironment(t *testing.T) {
	t.Parallel()
	for _, env := range []string{"local", "dev", "prod"} {
		p, err := Load(root, env)
		require.NoError(t, err)
		r := Consistency(p)
		assert.Equal(t, Passed, r.Status, "%s: %s %v", env, r.Message, r.Details)
		assert.Equal(t, Passed, Cost(p, DefaultBudget).Status, env)
	}
}

func TestConsistencyNamesWhatBroke(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		file       string
		old, new   string
		wantDetail string
	}{
		{"GPU workload without the toleration", "workflows/ray/rayjob.yaml",
			"            tolerations:\n              - key: nvidia.com/gpu\n                operator: Exists\n                effect: NoSchedule\n",
			"", "RayJob/ml-training/train-mlp/gpu (workflows/ray/rayjob.yaml) requests 1 nvidia.com/gpu but fits no GPU node group: does not tolerate taint nvidia.com/gpu=true:NoSchedule of group gpu"},
		{"system chart tolerating the GPU taint", "helm/platform-app/values.yaml",
			"      nodeSelector:\n        node-role.mlops.io/system: \"true\"\n      resources:\n        requests:\n          cpu: 100m\n          memory: 256Mi",
			"      tolerations:\n        - key: nvidia.com/gpu\n          operator: Exists\n      resources:\n        requests:\n          cpu: 100m\n          memory: 256Mi",
			"Application/ray-system/kuberay-operator (helm/values (kuberay-operator)) requests no GPU but may land on GPU group(s) [gpu]"},
		{"Terraform GPU taint changed without the Helm side", "terraform/variables.tf",
			"        key    = \"nvidia.com/gpu\"\n        value  = \"true\"\n        effect = \"NO_SCHEDULE\"",
			"        key    = \"accelerator\"\n        value  = \"nvidia\"\n        effect = \"NO_SCHEDULE\"",
			"does not tolerate taint accelerator=nvidia:NoSchedule of group gpu"},
		{"workload asking for more GPUs than a node has", "workflows/ray/rayjob.yaml",
			"                    nvidia.com/gpu: \"1\"\n                  limits:\n                    cpu: \"3\"\n                    memory: 12Gi\n                    nvidia.com/gpu: \"1\"",
			"                    nvidia.com/gpu: \"4\"\n                  limits:\n                    cpu: \"3\"\n                    memory: 12Gi\n                    nvidia.com/gpu: \"4\"",
			"RayJob/ml-training/train-mlp/gpu (workflows/ray/rayjob.yaml) requests 4 nvidia.com/gpu per pod; the largest GPU node has 1"},
		{"GPU quota above what the group can hold", "helm/platform-config/values.yaml",
			"gpuQuota:\n  ml-training: 1", "gpuQuota:\n  ml-training: 5",
			"GPU ResourceQuotas allow 7 nvidia.com/gpu (flytesnacks-development=1, ml-training=5, models=1) but the GPU node groups hold at most 3 at max_size"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := testenv.CopyRepo(t)
			testenv.Edit(t, dir, tc.file, tc.old, tc.new)
			p, err := Load(dir, "local")
			require.NoError(t, err)
			r := Consistency(p)
			require.Equal(t, Failed, r.Status, r.Message)
			assert.Contains(t, strings.Join(r.Details, "\n"), tc.wantDetail)
		})
	}
}

func TestValuesTypoFailsLoadNamingFileAndKey(t *testing.T) {
	t.Parallel()
	dir := testenv.CopyRepo(t)
	testenv.Edit(t, dir, "helm/values/local.yaml", "global:\n  environment: local", "global:\n  environment: local\n  targetRevison: v0.2.0")
	_, err := Load(dir, "local")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "targetRevison")
	assert.Contains(t, err.Error(), "helm/values/local.yaml")
}

func TestCostOverBudgetFails(t *testing.T) {
	t.Parallel()
	p, err := Load(root, "local")
	require.NoError(t, err)
	r := Cost(p, Budget{USD: 1, Hours: 10})
	assert.Equal(t, Failed, r.Status)
	assert.Contains(t, r.Message, "over the $1.00 budget")
}

// TestRunUsesAppliedShape: when the apply tier ran, the node groups AWS created replace the static reading —
// here AWS has a different GPU taint value than the Helm side tolerates by value — and its result comes first.
func TestRunUsesAppliedShape(t *testing.T) {
	t.Parallel()
	p, err := Load(root, "local")
	require.NoError(t, err)
	applied := p.Shape.Clone()
	g, ok := applied.Group("gpu")
	require.True(t, ok)
	g.Taints[0].Key = "nvidia.com/gpu-dedicated"
	before := Result{Name: "apply-tier", Status: Passed, Message: "applied"}
	out, err := Run(t.Context(), Options{Root: root, Env: "local", Shape: applied, Before: []Result{before}})
	require.NoError(t, err)
	assert.Equal(t, before, out.Results[0])
	var cons Result
	for _, r := range out.Results {
		if r.Name == "consistency" {
			cons = r
		}
	}
	require.Equal(t, Failed, cons.Status, cons.Message)
	assert.Contains(t, strings.Join(cons.Details, "\n"), "does not tolerate taint nvidia.com/gpu-dedicated=true:NoSchedule of group gpu")
}
