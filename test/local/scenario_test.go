package local

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/engine"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/scenario"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/test/testenv"
)

// TestShippedScenarios runs every scenarios/*.yaml on its own embedded cluster; no step may fail or skip.
func TestShippedScenarios(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join(testenv.Root(), "scenarios", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		s, err := scenario.Load(f)
		require.NoError(t, err)
		t.Run(s.Metadata.Name, func(t *testing.T) {
			p := testenv.MustPlatform(t, testenv.Root(), s.Spec.Environment)
			start := testenv.MustEKS
			if s.Spec.PreAdvertisedGPUs || s.Spec.Karpenter {
				start = testenv.MustEmbedded
			}
			c, _ := start(t, p.Shape)
			results, err := (&scenario.Runner{Env: testenv.MustEnv(t, p, c, engine.Charts{}, "")}).Run(t.Context(), s)
			require.NoError(t, err)
			steps := len(s.Spec.Steps)
			if s.Spec.Karpenter {
				steps++ // the karpenter result first
			}
			require.Len(t, results, steps)
			for _, r := range results {
				assert.Equal(t, result.Passed, r.Status, "%s: %s", r.Name, r.Message)
			}
		})
	}
}
