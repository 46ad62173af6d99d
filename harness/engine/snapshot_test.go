package engine_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/engine"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/test/testenv"
)

// TestDeployKeyChangesWithWhatTheDeployReads: a deploy snapshot is only reused for the very same deploy. The key
// is stable for the same inputs, and changes with a values file, a workflow, Terraform (the bridge and the shape),
// the deployer, a chart's contents and the caller's cluster facts.
func TestDeployKeyChangesWithWhatTheDeployReads(t *testing.T) {
	root := testenv.CopyRepo(t)
	charts := t.TempDir()
	require.NoError(t, os.CopyFS(filepath.Join(charts, "py-kube-downscaler"), os.DirFS(filepath.Join(testenv.Root(), "helm", "platform-config"))))
	key := func(argo *engine.ArgoCD, extra ...string) string {
		t.Helper()
		e, err := engine.NewEnv(testenv.MustPlatform(t, root, "local"), nil, engine.Charts{Dir: charts}, "")
		require.NoError(t, err)
		k, err := e.DeployKey(t.Context(), argo, extra...)
		require.NoError(t, err)
		return k
	}
	base := key(nil, "pre-advertised-gpus false")
	assert.Equal(t, base, key(nil, "pre-advertised-gpus false"), "stable")
	seen := map[string]string{base: "base"}
	differs := func(what, k string) {
		t.Helper()
		if prev, ok := seen[k]; ok {
			t.Errorf("%s gives the key of %s", what, prev)
		}
		seen[k] = what
	}
	differs("cluster facts", key(nil, "pre-advertised-gpus true"))
	argoBin := filepath.Join(t.TempDir(), "argocd")
	require.NoError(t, os.WriteFile(argoBin, []byte("argo"), 0o755))
	differs("Argo CD instead of Helm", key(&engine.ArgoCD{Binary: argoBin}, "pre-advertised-gpus false"))
	for _, f := range []string{"helm/values/local.yaml", "workflows/ray/rayjob.yaml", "terraform/env/local.tfvars"} {
		p := filepath.Join(root, f)
		data, err := os.ReadFile(p)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(p, append(data, []byte("\n# changed\n")...), 0o644))
		differs(f, key(nil, "pre-advertised-gpus false"))
	}
	require.NoError(t, os.WriteFile(filepath.Join(charts, "py-kube-downscaler", "values.yaml"), []byte("changed: true\n"), 0o644))
	differs("a chart's contents", key(nil, "pre-advertised-gpus false"))
}
