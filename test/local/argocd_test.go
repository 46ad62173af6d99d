package local

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/engine"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/test/testenv"
)

// argoCD is how the tests run the real Argo CD (make argocd builds it; `make test` does).
func argoCD(t *testing.T) engine.ArgoCD {
	t.Helper()
	bin := filepath.Join(testenv.Root(), "bin")
	if _, err := os.Stat(filepath.Join(bin, "argocd")); err != nil {
		t.Fatalf("bin/argocd missing: run `make argocd` (make test builds it): %v", err)
	}
	return engine.ArgoCD{Binary: filepath.Join(bin, "argocd"), HelmDir: bin, CRDsDir: filepath.Join(bin, "argocd-crds"),
		Dir: t.TempDir(), Timeout: 3 * time.Minute, Progress: t.Logf}
}

// TestArgoCDSyncsThePlatform deploys the platform as the runbook does: the real Argo CD applies bootstrap.yaml
// and syncs every Application of the app-of-apps, wave by wave, until Synced and Healthy.
func TestArgoCDSyncsThePlatform(t *testing.T) {
	c, _ := testenv.MustEKS(t, testenv.MustShape(t, "local"))
	env := testenv.MustEnv(t, testenv.MustPlatform(t, testenv.Root(), "local"), c, engine.Charts{Dir: testenv.ChartsDir(t)}, testenv.CRDsDir(t))
	rs := env.DeployArgoCD(t.Context(), argoCD(t))
	names := map[string]bool{}
	for _, r := range rs {
		t.Logf("%-28s %-8s %s %v", r.Name, r.Status, r.Message, r.Details)
		assert.Equal(t, result.Passed, r.Status, "%s: %s %v", r.Name, r.Message, r.Details)
		names[r.Name] = true
	}
	for _, a := range env.Platform.Apps {
		assert.True(t, names["deploy/"+a.Name], "a result for Application %s", a.Name)
	}
	assert.True(t, names["deploy/platform-app"])
}
