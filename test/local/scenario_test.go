package local

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/check"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/scenario"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/test/testenv"
)

// TestShippedScenarios runs every scenarios/*.yaml on its own embedded cluster; no step may fail or skip.
func TestShippedScenarios(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(testenv.Root(), "scenarios", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		s, err := scenario.Load(f)
		require.NoError(t, err)
		t.Run(s.Metadata.Name, func(t *testing.T) {
			c, _ := testenv.MustEmbedded(t, testenv.MustShape(t, s.Spec.Environment))
			results, err := (&scenario.Runner{Root: testenv.Root(), Cluster: c}).Run(t.Context(), s)
			require.NoError(t, err)
			require.Len(t, results, len(s.Spec.Steps))
			for _, r := range results {
				assert.Equal(t, check.Passed, r.Status, "%s: %s", r.Name, r.Message)
			}
		})
	}
}
