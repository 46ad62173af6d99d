package local

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cluster/embedded"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/deploy"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/test/testenv"
)

// TestPlainBuildReportsItsKubernetesVersion builds the harness as `go build` does, without the Makefile's
// -ldflags, runs its embedded control plane and installs a chart whose kubeVersion constraint needs a real
// version: the control plane reports the k8s.io/kubernetes release of the build's module information, not
// component-base's v0.0.0-master placeholder.
func TestPlainBuildReportsItsKubernetesVersion(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "harness")
	build := exec.Command("go", "build", "-o", bin, "./harness/cmd/harness")
	build.Dir = testenv.Root()
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)

	c, cs := testenv.MustStart(t, embedded.Config{Shape: testenv.MustShape(t, "local"), Executable: bin})
	v, err := cs.Discovery().ServerVersion()
	require.NoError(t, err)
	want := testenv.KubernetesModuleVersion(t)
	assert.Equal(t, want, v.GitVersion, "the plain build's control plane reports the release it was built from")

	chart := filepath.Join(t.TempDir(), "constrained")
	require.NoError(t, os.MkdirAll(filepath.Join(chart, "templates"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(chart, "Chart.yaml"), []byte("apiVersion: v2\nname: constrained\nversion: 0.1.0\nkubeVersion: \">= 1.30.0-0\"\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(chart, "templates", "cm.yaml"), []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: constrained\ndata: {a: b}\n"), 0o644))
	_, err = deploy.Install(t.Context(), c.Kubeconfig(), chart, deploy.Release{Name: "constrained", Namespace: "default"}, nil)
	require.NoError(t, err, "a chart with a kubeVersion constraint installs on the plain build's control plane")
}
