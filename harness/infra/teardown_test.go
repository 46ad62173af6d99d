package infra

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const envPanicHelper = "HARNESS_INFRA_PANIC_HELPER"

// markerModule is a provider-free root module whose destroy leaves a file behind: proof that destroy ran.
func markerModule(t *testing.T) (src, marker string) {
	t.Helper()
	src = t.TempDir()
	marker = filepath.Join(t.TempDir(), "destroyed")
	require.NoError(t, os.MkdirAll(filepath.Join(src, "env"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(src, "env", "local.tfvars"), []byte("marker = \""+marker+"\"\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(src, "main.tf"), []byte(`
variable "artifacts_force_destroy" {
  type = bool
}
variable "marker" {
  type = string
}
resource "terraform_data" "infrastructure" {
  input = var.marker
  provisioner "local-exec" {
    when    = destroy
    command = "touch ${self.input}"
  }
}
`), 0o644))
	return src, marker
}

// TestHelperPanickingRun is the nightly's shape in miniature, run as a child process by
// TestPanickingSubtestStillDestroys: the workspace's Teardown registered with t.Cleanup, then a subtest panics.
func TestHelperPanickingRun(t *testing.T) {
	src := os.Getenv(envPanicHelper)
	if src == "" {
		t.Skip("helper of TestPanickingSubtestStillDestroys")
	}
	ws, err := Prepare(t.Context(), ApplyOptions{Source: src, Env: "local"})
	require.NoError(t, err)
	td := NewTeardown(ws, nil, os.Stdout)
	t.Cleanup(func() { _ = td.Run(time.Minute) })
	_, err = ws.Up(t.Context(), "")
	require.NoError(t, err)
	t.Run("a smoke test with a bug", func(t *testing.T) {
		var m map[string]int
		m["boom"]++ // panics: assignment to entry in nil map
	})
}

// TestPanickingSubtestStillDestroys: a panic in a subtest ends the test binary without running the parent's
// defers; the Teardown registered with t.Cleanup still destroys (the module's destroy-time provisioner writes
// the marker).
func TestPanickingSubtestStillDestroys(t *testing.T) {
	flowBinary(t)
	src, marker := markerModule(t)
	cmd := exec.Command(os.Args[0], "-test.run", "^TestHelperPanickingRun$", "-test.v")
	cmd.Env = append(os.Environ(), envPanicHelper+"="+src)
	out, err := cmd.CombinedOutput()
	require.Error(t, err, "the helper panicked:\n%s", out)
	assert.Contains(t, string(out), "assignment to entry in nil map")
	assert.Contains(t, string(out), "teardown: terraform destroy")
	assert.FileExists(t, marker, "destroy ran after the panic:\n%s", out)
}

// TestTeardownStagesRunInOrderOnce: stages before destroy, checks after it, once.
func TestTeardownStagesRunInOrderOnce(t *testing.T) {
	flowBinary(t)
	src, marker := markerModule(t)
	ws, err := Prepare(t.Context(), ApplyOptions{Source: src, Env: "local"})
	require.NoError(t, err)
	_, err = ws.Up(t.Context(), "")
	require.NoError(t, err)
	td := NewTeardown(ws, nil, nil)
	var order []string
	td.BeforeDestroy("delete workloads", func(ctxx context.Context) error {
		_, statErr := os.Stat(marker)
		order = append(order, "workloads (infrastructure still up: "+boolString(os.IsNotExist(statErr))+")")
		return nil
	})
	td.AfterDestroy("leak scan", func(ctxx context.Context) error {
		_, statErr := os.Stat(marker)
		order = append(order, "leak scan (destroyed: "+boolString(statErr == nil)+")")
		return nil
	})
	require.NoError(t, td.Run(time.Minute))
	require.NoError(t, td.Run(time.Minute))
	assert.Equal(t, []string{"workloads (infrastructure still up: true)", "leak scan (destroyed: true)"}, order)
	assert.NoDirExists(t, ws.Dir())
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
