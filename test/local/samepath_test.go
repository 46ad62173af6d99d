package local

import (
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/check"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/engine"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/test/testenv"
)

// TestArgoCDAndHelmGiveTheSameVerdicts breaks one copy of the repository twice over (a misspelt values key, which
// Helm and Argo CD both ignore silently; a RayJob asking for more GPU workers than the GPU groups and NodePools
// hold) and runs `harness check`'s steps through each deploy path: the failed checks are the same.
func TestArgoCDAndHelmGiveTheSameVerdicts(t *testing.T) {
	t.Parallel()
	root := testenv.CopyRepo(t)
	testenv.Edit(t, root, "helm/platform-app/values.yaml",
		"          effect: NoSchedule\n      resources:\n        requests:\n          cpu: 50m\n",
		"          effect: NoSchedule\n      resouces:\n        requests:\n          cpu: 50m\n")
	testenv.Edit(t, root, "workflows/ray/rayjob.yaml",
		"        replicas: 1\n        minReplicas: 0\n        maxReplicas: 2\n", "        replicas: 64\n        minReplicas: 0\n        maxReplicas: 64\n")
	failed := func(argo bool) []string {
		c, _ := testenv.MustEKS(t, testenv.MustShape(t, "local"))
		run := &check.Run{Env: testenv.MustEnv(t, testenv.MustPlatform(t, root, "local"), c, engine.Charts{Dir: testenv.ChartsDir(t)}, testenv.CRDsDir(t))}
		if argo {
			a := argoCD(t)
			run.ArgoCD = &a
		}
		// checkov, Karpenter and the workload tier cost seconds of Python or a controller per run, the same on both paths.
		steps := check.Except(check.Steps(), check.PhaseScan, check.PhaseControllers, check.PhaseWorkload)
		rs, err := check.Execute(t.Context(), run, steps, nil)
		require.NoError(t, err)
		var out []string
		for _, r := range rs {
			if r.Status == result.Failed {
				t.Logf("argo=%v %s: %s", argo, r.Name, r.Message)
				out = append(out, r.Name)
			}
		}
		sort.Strings(out)
		return out
	}
	helm, argo := failed(false), failed(true)
	assert.Equal(t, helm, argo, "the same failed checks whatever deploys the platform")
	joined := strings.Join(helm, " ")
	assert.Contains(t, joined, "values", "the misspelt key is named on both paths")
	assert.Contains(t, joined, "consistency", "the GPU demand beyond capacity is named on both paths")
	assert.Contains(t, joined, "gpu-capacity")
}
