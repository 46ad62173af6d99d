package local

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/check"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/engine"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/test/testenv"
)

// TestKubeRayValidationNamesWhatTheOperatorRefuses judges the platform's RayJob and RayService as KubeRay's
// operator does before it creates anything (tools/kuberay --validate on the API server's dry-run answer): the
// repository's pass; copies with mistakes the CRD's schema accepts fail with KubeRay's own event reason and
// message, naming the object and its file.
func TestKubeRayValidationNamesWhatTheOperatorRefuses(t *testing.T) {
	t.Parallel()
	bin := check.KubeRayAt(testenv.Root())
	require.NotEmpty(t, bin, "bin/kuberay not built: make kuberay (make test builds it)")
	c, _ := testenv.MustEKS(t, testenv.MustShape(t, "local"))
	env := testenv.MustEnv(t, testenv.MustPlatform(t, testenv.Root(), "local"), c, engine.Charts{}, testenv.CRDsDir(t))
	require.Equal(t, result.Passed, check.CRDs(env.InstallCRDs(t.Context())).Status)
	for _, r := range check.Deploy(env.DeployApps(t.Context())) { // the namespaces the workflows live in
		require.NotEqual(t, result.Failed, r.Status, r.Message)
	}

	r := check.KubeRayValidation(t.Context(), env, bin, nil)
	require.Equal(t, result.Passed, r.Status, "%s %v", r.Message, r.Details)
	assert.Equal(t, "2 Ray object(s) pass KubeRay's own validation (as stored by the API server)", r.Message)

	tests := []struct {
		name, file, old, new, want string
	}{
		// ray-project/kuberay#3651: the CRD has no rule tying the two fields; the operator's validation does.
		{"TTL without shutdownAfterJobFinishes", "workflows/ray/rayjob.yaml", "  shutdownAfterJobFinishes: true\n", "",
			"RayJob/ml-training/train-mlp (workflows/ray/rayjob.yaml): InvalidRayJobSpec: The RayJob spec is invalid: a RayJob with shutdownAfterJobFinishes set to false cannot have TTLSecondsAfterFinished"},
		{"resources in both rayStartParams and resources", "workflows/ray/rayservice.yaml", "rayStartParams: {}", "rayStartParams: {num-cpus: \"1\"}\n        resources: {CPU: \"1\"}",
			"RayService/models/mlp-serve (workflows/ray/rayservice.yaml): InvalidRayServiceSpec: resource fields should not be set in both rayStartParams and Resources"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := testenv.CopyRepo(t)
			testenv.Edit(t, root, tc.file, tc.old, tc.new)
			env := testenv.MustEnv(t, testenv.MustPlatform(t, root, "local"), c, engine.Charts{}, "")
			api := check.APIAcceptance(t.Context(), env)
			require.Equal(t, result.Passed, api[0].Status, "the API server accepts the object: %s %v", api[0].Message, api[0].Details)
			r := check.KubeRayValidation(t.Context(), env, bin, nil)
			require.Equal(t, result.Failed, r.Status, r.Message)
			assert.Contains(t, strings.Join(r.Details, "\n"), tc.want)
		})
	}

	t.Run("without the build", func(t *testing.T) {
		r := check.KubeRayValidation(t.Context(), env, "", nil)
		assert.Equal(t, result.Skipped, r.Status)
		assert.Contains(t, r.Message, "make kuberay")
	})
}
