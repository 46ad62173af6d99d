package platform_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/platform"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/test/testenv"
)

func TestLoadEveryEnvironment(t *testing.T) {
	t.Parallel()
	for _, env := range []string{"local", "dev", "prod"} {
		p, err := platform.Load("../..", env)
		require.NoError(t, err, env)
		assert.Same(t, p.Static, p.Shape)
		assert.False(t, p.Applied)
		assert.NotEmpty(t, p.Terraform.Files)
		assert.NotEmpty(t, p.Workloads)
	}
}

// TestMistypedUpstreamValueFailsLoad: a value of the wrong type in an upstream app's values is an error naming
// the Application and the key, before anything starts — not a half-built probe that fails later elsewhere.
func TestMistypedUpstreamValueFailsLoad(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, old, new, want string }{
		{"tolerations as a string",
			"      tolerations:\n        - key: nvidia.com/gpu\n          operator: Exists\n          effect: NoSchedule\n      resources:",
			"      tolerations: nvidia.com/gpu\n      resources:",
			"helm/platform-app/values.yaml:51: application nvidia-device-plugin: values key tolerations:"},
		{"tolerationSeconds not a number",
			"      tolerations:\n        - key: nvidia.com/gpu\n          operator: Exists\n          effect: NoSchedule\n      resources:",
			"      tolerations:\n        - key: nvidia.com/gpu\n          operator: Exists\n          effect: NoExecute\n          tolerationSeconds: forever\n      resources:",
			"helm/platform-app/values.yaml:51: application nvidia-device-plugin: values key tolerations:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := testenv.CopyRepo(t)
			testenv.Edit(t, dir, "helm/platform-app/values.yaml", tc.old, tc.new)
			_, err := platform.Load(dir, "local")
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.Contains(t, err.Error(), "helm/platform-app/values.yaml")
		})
	}
}

// TestValueAtNamesTheEnvironmentFile: a key the environment file overrides is reported at its line there.
func TestValueAtNamesTheEnvironmentFile(t *testing.T) {
	t.Parallel()
	dir := testenv.CopyRepo(t)
	data, err := os.ReadFile(filepath.Join(dir, "helm", "values", "prod.yaml"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "helm", "values", "prod.yaml"),
		append(data, []byte("  kuberayOperator:\n    values:\n      replicaz: 2\n")...), 0o644))
	p, err := platform.Load(dir, "prod")
	require.NoError(t, err)
	lines := strings.Count(string(data), "\n")
	assert.Equal(t, fmt.Sprintf("helm/values/prod.yaml:%d", lines+3), p.ValueAt("kuberay-operator", []string{"replicaz"}))
}
