package check_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/check"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cluster"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/engine"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/platform"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/test/testenv"
)

const root = "../.."

func TestConsistencyPassesForEveryEnvironment(t *testing.T) {
	t.Parallel()
	for _, env := range []string{"local", "dev", "prod"} {
		p, err := platform.Load(root, env)
		require.NoError(t, err)
		r := check.Consistency(p)
		assert.Equal(t, result.Passed, r.Status, "%s: %s %v", env, r.Message, r.Details)
		assert.Equal(t, result.Passed, check.Cost(p, check.DefaultBudget).Status, env)
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
		{"workload selecting the GPU group without a GPU request or the toleration", "workflows/ray/rayjob.yaml",
			"            tolerations:\n              - key: nvidia.com/gpu\n                operator: Exists\n                effect: NoSchedule\n            priorityClassName: ml-training\n            containers:\n              - name: ray-worker\n                image: rayproject/ray:2.41.0-py311-gpu\n                resources:\n                  requests:\n                    cpu: \"2\"\n                    memory: 8Gi\n                    nvidia.com/gpu: \"1\"\n                  limits:\n                    cpu: \"3\"\n                    memory: 12Gi\n                    nvidia.com/gpu: \"1\"",
			"            priorityClassName: ml-training\n            containers:\n              - name: ray-worker\n                image: rayproject/ray:2.41.0-py311-gpu\n                resources:\n                  requests:\n                    cpu: \"2\"\n                    memory: 8Gi\n                  limits:\n                    cpu: \"3\"\n                    memory: 12Gi",
			"RayJob/ml-training/train-mlp/gpu (workflows/ray/rayjob.yaml) fits no node group: does not tolerate taint nvidia.com/gpu=true:NoSchedule of group gpu"},
		{"GPU taint that ExtendedResourceToleration does not cover (NoExecute)", "terraform/variables.tf",
			"        key    = \"nvidia.com/gpu\"\n        value  = \"true\"\n        effect = \"NO_SCHEDULE\"",
			"        key    = \"nvidia.com/gpu\"\n        value  = \"true\"\n        effect = \"NO_EXECUTE\"",
			"does not tolerate taint nvidia.com/gpu=true:NoExecute of group gpu"},
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
		// kserve/kserve#4908: Serverless asked for where no Knative Serving is installed; also as the controller's
		// default when the InferenceService names no mode.
		{"InferenceService in Serverless mode without Knative", "workflows/kserve/inferenceservice.yaml",
			"    serving.kserve.io/deploymentMode: RawDeployment\n", "    serving.kserve.io/deploymentMode: Serverless\n",
			"InferenceService models/sklearn-iris (workflows/kserve/inferenceservice.yaml) runs in Serverless mode (its serving.kserve.io/deploymentMode annotation), but the platform installs no Knative Serving"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := testenv.CopyRepo(t)
			testenv.Edit(t, dir, tc.file, tc.old, tc.new)
			p, err := platform.Load(dir, "local")
			require.NoError(t, err)
			r := check.Consistency(p)
			require.Equal(t, result.Failed, r.Status, r.Message)
			assert.Contains(t, strings.Join(r.Details, "\n"), tc.wantDetail)
		})
	}
}

// TestGPUWorkloadWithoutTolerationIsANote: on EKS, ExtendedResourceToleration gives a pod that requests
// nvidia.com/gpu the toleration for the GPU taint, so a missing explicit toleration is a note, not a failure.
func TestGPUWorkloadWithoutTolerationIsANote(t *testing.T) {
	t.Parallel()
	dir := testenv.CopyRepo(t)
	testenv.Edit(t, dir, "workflows/ray/rayjob.yaml", "            tolerations:\n              - key: nvidia.com/gpu\n                operator: Exists\n                effect: NoSchedule\n            priorityClassName: ml-training", "            priorityClassName: ml-training")
	p, err := platform.Load(dir, "local")
	require.NoError(t, err)
	r := check.Consistency(p)
	require.Equal(t, result.Passed, r.Status, "%s %v", r.Message, r.Details)
	assert.Contains(t, strings.Join(r.Details, "\n"), "note: RayJob/ml-training/train-mlp/gpu (workflows/ray/rayjob.yaml) requests nvidia.com/gpu without tolerating the GPU taint itself")
}

func TestValuesTypoFailsLoadNamingFileAndKey(t *testing.T) {
	t.Parallel()
	dir := testenv.CopyRepo(t)
	testenv.Edit(t, dir, "helm/values/local.yaml", "global:\n  environment: local", "global:\n  environment: local\n  targetRevison: v0.2.0")
	_, err := platform.Load(dir, "local")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "targetRevison")
	assert.Contains(t, err.Error(), "helm/values/local.yaml")
}

func TestCostOverBudgetFails(t *testing.T) {
	t.Parallel()
	p, err := platform.Load(root, "local")
	require.NoError(t, err)
	r := check.Cost(p, check.Budget{USD: 1, Hours: 10})
	assert.Equal(t, result.Failed, r.Status)
	assert.Contains(t, r.Message, "over the $1.00 budget")
}

// TestAppliedShapeReachesClusterChecksAndPolicies: the platform is loaded once; when the apply tier ran, the
// node groups AWS created (here with a different GPU taint than the Helm side tolerates) replace the static
// reading for the cluster, the checks and the policies alike.
func TestAppliedShapeReachesClusterChecksAndPolicies(t *testing.T) {
	t.Parallel()
	static, err := platform.Load(root, "local")
	require.NoError(t, err)
	applied := static.Shape.Clone()
	g, ok := applied.Group("gpu")
	require.True(t, ok)
	g.Taints[0].Key = "nvidia.com/gpu-dedicated"
	p := static.WithApplied(applied)
	sg, _ := static.Shape.Group("gpu")
	assert.Equal(t, "nvidia.com/gpu", sg.Taints[0].Key, "the static model is unchanged")

	c, err := cluster.New(t.Context(), cluster.Config{Backend: cluster.Embedded, Shape: p.Shape})
	require.NoError(t, err)
	assert.Equal(t, applied, c.Shape(), "the cluster is built from the applied shape")

	env, err := engine.NewEnv(p, nil, engine.Charts{}, "")
	require.NoError(t, err)
	rs, err := check.Execute(t.Context(), &check.Run{Env: env}, check.Steps(), nil)
	require.NoError(t, err)
	byName := map[string]result.Result{}
	for _, r := range rs {
		byName[r.Name] = r
	}
	cons := byName["consistency"]
	require.Equal(t, result.Failed, cons.Status, cons.Message)
	assert.Contains(t, strings.Join(cons.Details, "\n"), "does not tolerate taint nvidia.com/gpu-dedicated=true:NoSchedule of group gpu")
	pol := byName["policy/gpu-node-group"]
	require.Equal(t, result.Failed, pol.Status, pol.Message)
	assert.Contains(t, strings.Join(pol.Details, "\n"), "node_groups.gpu: GPU group lacks the taint nvidia.com/gpu:NoSchedule")
	for _, n := range []string{"crds", "deploy", "gpu-isolation", "gpu-capacity", "system-fit", "api-acceptance", "deploy/workflows"} {
		assert.Equal(t, result.Skipped, byName[n].Status, n)
		assert.Equal(t, "no cluster", byName[n].Message, n)
	}
}

// TestCostGuardRefusesOverBudget: a run whose worst case (node groups at max size for the planned hours) exceeds
// the budget is refused before apply, naming estimate and budget; one that fits passes.
func TestCostGuardRefusesOverBudget(t *testing.T) {
	t.Parallel()
	p, err := platform.Load(root, "dev")
	require.NoError(t, err)
	err = check.CostGuard(p, check.Budget{USD: 2, Hours: 3})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "refusing to apply")
	assert.Contains(t, err.Error(), "over the $2.00 budget")
	assert.Contains(t, err.Error(), "gpu 3 x g4dn.xlarge")
	assert.NoError(t, check.CostGuard(p, check.Budget{USD: 50, Hours: 3}))
}

// An InferenceService naming no deployment mode takes the KServe controller's default: Serverless there without
// Knative fails (kserve/kserve#4908); without the annotation and with the platform's RawDeployment it passes
// (kserve/kserve#2338).
func TestKServeModeFromTheControllerDefault(t *testing.T) {
	t.Parallel()
	dir := testenv.CopyRepo(t)
	testenv.Edit(t, dir, "workflows/kserve/inferenceservice.yaml", "  annotations:\n    serving.kserve.io/deploymentMode: RawDeployment\n", "")
	p, err := platform.Load(dir, "local")
	require.NoError(t, err)
	r := check.Consistency(p)
	require.Equal(t, result.Passed, r.Status, "RawDeployment by the controller's default: %s %v", r.Message, r.Details)
	testenv.Edit(t, dir, "helm/platform-app/values.yaml", "          deploymentMode: RawDeployment\n", "          deploymentMode: Serverless\n")
	p, err = platform.Load(dir, "local")
	require.NoError(t, err)
	r = check.Consistency(p)
	require.Equal(t, result.Failed, r.Status, r.Message)
	assert.Contains(t, strings.Join(r.Details, "\n"), "runs in Serverless mode (the kserve Application's kserve.controller.deploymentMode), but the platform installs no Knative Serving")
}
