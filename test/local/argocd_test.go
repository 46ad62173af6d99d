package local

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/check"
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
	// A sync takes ~1.5 min on an idle 2-core machine and up to ~4 beside the other test packages (CI runs them
	// together); `harness check` allows 5.
	return engine.ArgoCD{Binary: filepath.Join(bin, "argocd"), HelmDir: bin, CRDsDir: filepath.Join(bin, "argocd-crds"),
		Dir: t.TempDir(), Timeout: 6 * time.Minute, Progress: t.Logf}
}

// TestArgoCDNamesWhatDoesNotSync breaks three things in one copy of the repository and syncs it through Argo CD:
// a chart version the (served) repository does not have, a CRD's user whose CRD never comes (kserve-crd off), and
// a workload that can never become available (the database pinned to a node label no node has). Each Application
// is named with Argo CD's own message; the rest still syncs. (A mere wrong wave order — kserve-crd after kserve —
// converges here: every Application has selfHeal, and Argo CD re-syncs kserve once the CRDs exist.)
func TestArgoCDNamesWhatDoesNotSync(t *testing.T) {
	t.Parallel()
	root := testenv.CopyRepo(t)
	testenv.Edit(t, root, "helm/platform-app/values.yaml", "chart: py-kube-downscaler\n      targetRevision: 0.3.2", "chart: py-kube-downscaler\n      targetRevision: 0.3.3")
	testenv.Edit(t, root, "helm/platform-app/values.yaml", "  kserveCrd:\n    enabled: true", "  kserveCrd:\n    enabled: false")
	testenv.Edit(t, root, "helm/platform-config/values.yaml", "  nodeSelector:\n    node-role.mlops.io/system: \"true\"\n  resources:", "  nodeSelector:\n    node-role.mlops.io/nowhere: \"true\"\n  resources:")
	c, _ := testenv.MustEKS(t, testenv.MustShape(t, "local"))
	env := testenv.MustEnv(t, testenv.MustPlatform(t, root, "local"), c, engine.Charts{Dir: testenv.ChartsDir(t)}, testenv.CRDsDir(t))
	cfg := argoCD(t)
	// Three Applications never become Healthy, so the deploy always waits out its timeout: long enough for the
	// rest to sync on a loaded 2-core machine (Argo CD waits for KubeRay's CRDs to be established, Flyte's pods).
	cfg.Timeout = 4 * time.Minute
	byName := map[string]result.Result{}
	for _, r := range check.Deploy(env.DeployArgoCD(t.Context(), cfg)) {
		t.Logf("%-28s %-8s %s %v", r.Name, r.Status, r.Message, r.Details)
		byName[r.Name] = r
	}
	text := func(name string) string {
		r := byName[name]
		return r.Message + "\n" + strings.Join(r.Details, "\n")
	}
	for name, want := range map[string]string{
		"deploy/kube-downscaler": "0.3.3",
		"deploy/kserve":          "ClusterServingRuntime",
		"deploy/platform-config": "StatefulSet flyte/flyte-db",
	} {
		assert.Equal(t, result.Failed, byName[name].Status, name)
		assert.Contains(t, text(name), want, name)
	}
	for _, name := range []string{"deploy/cert-manager", "deploy/kuberay-operator", "deploy/flyte"} {
		assert.Equal(t, result.Passed, byName[name].Status, "%s: %s", name, text(name))
	}
}
