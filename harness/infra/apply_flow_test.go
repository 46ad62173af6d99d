package infra

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// flowModule writes a root module that needs no provider download (only Terraform's built-in terraform_data),
// shaped like terraform/: env/<env>.tfvars, var.artifacts_force_destroy, a node_groups output.
func flowModule(t *testing.T, input string) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "env"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "env", "local.tfvars"), []byte("gpu_max = 3\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.tf"), []byte(`
variable "artifacts_force_destroy" {
  type = bool
}
variable "gpu_max" {
  type = number
}
resource "terraform_data" "gpu" {
  input = `+input+`
}
output "node_groups" {
  value = { gpu = { instance_types = ["g4dn.xlarge"], max_size = var.gpu_max, input = terraform_data.gpu.output } }
}
`), 0o644))
	return dir
}

func flowBinary(t *testing.T) string {
	t.Helper()
	b, err := FindBinary()
	if err != nil {
		t.Skipf("skipped: %v (the apply flow needs terraform or tofu; `make tools` builds tofu)", err)
	}
	return b
}

// The Terratest flow itself — init, apply, outputs, a second plan that must be empty, the deferred destroy —
// with a real terraform/tofu binary, on a module that needs no provider download.
func TestApplyFlowEndToEnd(t *testing.T) {
	bin := flowBinary(t)
	src := flowModule(t, `"stable"`)
	applied, err := Apply(t.Context(), ApplyOptions{Source: src, Env: "local", Binary: bin})
	require.NoError(t, err)
	ng := applied.Outputs["node_groups"].(map[string]any)["gpu"].(map[string]any)
	assert.EqualValues(t, 3, ng["max_size"])
	assert.Equal(t, "stable", ng["input"])
	entries, err := os.ReadDir(src)
	require.NoError(t, err)
	for _, e := range entries {
		assert.NotContains(t, []string{".terraform", "terraform.tfstate", ".terraform.lock.hcl"}, e.Name(), "the source module is never written to")
	}
}

// A module whose second plan is not empty fails the flow, and is still destroyed.
func TestApplyFlowFailsWhenNotIdempotent(t *testing.T) {
	bin := flowBinary(t)
	_, err := Apply(t.Context(), ApplyOptions{Source: flowModule(t, "timestamp()"), Env: "local", Binary: bin})
	require.ErrorContains(t, err, "second plan shows changes (exit code 2): the apply is not idempotent")
	assert.NotContains(t, err.Error(), "terraform destroy", "the deferred destroy succeeded")
}
