package static

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/deploy"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/test/testenv"
)

func workflowFiles(t *testing.T, ext string) []string {
	t.Helper()
	var out []string
	require.NoError(t, filepath.WalkDir(filepath.Join(testenv.Root(), "workflows"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ext) {
			out = append(out, p)
		}
		return err
	}))
	require.NotEmpty(t, out, "no %s files under workflows/", ext)
	return out
}

// TestPythonCompiles byte-compiles every Python file (syntax only; the ML libraries are not needed).
func TestPythonCompiles(t *testing.T) {
	t.Parallel()
	py, err := exec.LookPath("python3")
	require.NoError(t, err, "python3 is needed to compile the workflows")
	for _, f := range workflowFiles(t, ".py") {
		cmd := exec.Command(py, "-c", "import ast,sys; ast.parse(open(sys.argv[1]).read(), sys.argv[1])", f)
		out, err := cmd.CombinedOutput()
		assert.NoError(t, err, "%s: %s", f, out)
	}
}

// TestManifestsParse decodes every workflow manifest and checks the kinds the platform promises.
func TestManifestsParse(t *testing.T) {
	t.Parallel()
	kinds := map[string]bool{}
	for _, f := range workflowFiles(t, ".yaml") {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		objs, err := deploy.Decode(f, data)
		require.NoError(t, err)
		for _, o := range objs {
			kinds[o.GetKind()] = true
			assert.NotEmpty(t, o.GetNamespace(), "%s: %s has a namespace", f, o)
		}
	}
	for _, k := range []string{"RayJob", "RayService", "InferenceService"} {
		assert.True(t, kinds[k], "a %s manifest exists", k)
	}
}
