package local

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/check"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/test/testenv"
)

// TestCheckLocalEnvironment runs `harness check --env local` in-process: every check passes or is skipped with
// a reason, and every GPU workload was placed on the GPU group by the real scheduler.
func TestCheckLocalEnvironment(t *testing.T) {
	c, _ := testenv.MustEmbedded(t, testenv.MustShape(t, "local"))
	out, err := check.Run(t.Context(), check.Options{Root: testenv.Root(), Env: "local", Cluster: c})
	require.NoError(t, err)
	byName := map[string]check.Result{}
	for _, r := range out.Results {
		byName[r.Name] = r
		assert.NotEqual(t, check.Failed, r.Status, "%s: %s %v", r.Name, r.Message, r.Details)
		if r.Status == check.Skipped {
			assert.NotEmpty(t, r.Message, "%s skipped without a reason", r.Name)
		}
	}
	for _, name := range []string{"consistency", "cost", "api-acceptance", "gpu-isolation", "gpu-capacity", "system-fit", "deploy/platform-config"} {
		assert.Equal(t, check.Passed, byName[name].Status, name)
	}
	assert.Equal(t, check.Skipped, byName["deploy/flyte"].Status)
	assert.Contains(t, byName["deploy/flyte"].Message, "chart not fetched")

	gpuPlaced := map[string]string{}
	for _, pl := range out.Placements {
		if pl.Workload.GPUs() > 0 {
			gpuPlaced[pl.Workload.Name] = pl.Group
		}
	}
	assert.Equal(t, map[string]string{
		"RayJob/ml-training/train-mlp/gpu": "gpu",
		"RayService/models/mlp-serve/gpu":  "gpu",
		"Application/flyte/flyte/gpu-task": "gpu",
	}, gpuPlaced)
}

// TestCheckFailsOnBrokenArtifacts breaks the platform in temporary copies and runs the cluster checks: the
// real scheduler's verdict names what broke.
func TestCheckFailsOnBrokenArtifacts(t *testing.T) {
	tests := []struct {
		name, file, old, new, check, want string
	}{
		{"GPU worker without the toleration", "workflows/ray/rayjob.yaml",
			"            tolerations:\n              - key: nvidia.com/gpu\n                operator: Exists\n                effect: NoSchedule\n", "",
			"gpu-isolation", "RayJob/ml-training/train-mlp/gpu (workflows/ray/rayjob.yaml) pod"},
		{"system operator asking for more CPU than a t3.large has", "helm/platform-app/values.yaml",
			"        requests:\n          cpu: 100m\n          memory: 256Mi", "        requests:\n          cpu: \"4\"\n          memory: 256Mi",
			"system-fit", "Application/ray-system/kuberay-operator (helm/values (kuberay-operator)) pod"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := testenv.CopyRepo(t)
			testenv.Edit(t, root, tc.file, tc.old, tc.new)
			c, _ := testenv.MustEmbedded(t, testenv.MustShape(t, "local"))
			out, err := check.Run(t.Context(), check.Options{Root: root, Env: "local", Cluster: c})
			require.NoError(t, err)
			for _, r := range out.Results {
				if r.Name == tc.check {
					require.Equal(t, check.Failed, r.Status, r.Message)
					assert.Contains(t, strings.Join(r.Details, "\n"), tc.want)
					return
				}
			}
			t.Fatalf("no %s result", tc.check)
		})
	}
}
