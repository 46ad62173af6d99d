package local

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/test/testenv"
)

// TestDiffCommandWithoutChartsIsIncomplete runs the real `harness diff` command (bin/harness, as `make diff` does)
// over HEAD on a machine without the upstream charts: the in-repository Applications are synced twice and judged,
// the report is written, and the run exits 3 (incomplete, naming the Applications not judged) — not 0. Nothing is
// left in its run directory (the base's checkout included).
func TestDiffCommandWithoutChartsIsIncomplete(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(testenv.Root(), "bin", "harness")
	require.FileExists(t, bin, "make build (make test builds it)")
	if _, err := os.Stat(filepath.Join(testenv.Root(), "bin", "argocd")); err != nil {
		t.Fatalf("bin/argocd missing: run `make argocd` (make test builds it): %v", err)
	}
	runDir, reportDir := t.TempDir(), t.TempDir()
	cmd := exec.CommandContext(t.Context(), bin, "diff", "--env", "local", "--root", testenv.Root(), "--base", "HEAD",
		"--run-dir", runDir, "--report-dir", reportDir, "--charts-cache", t.TempDir())
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HARNESS_CHARTS_DIR=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	t.Logf("%s", out.String())
	var exit *exec.ExitError
	require.True(t, errors.As(err, &exit), "harness diff without charts must not pass: %v", err)
	assert.Equal(t, 3, exit.ExitCode(), "incomplete, not failed")
	assert.Contains(t, out.String(), "INCOMPLETE: nothing failed, but")
	assert.Contains(t, out.String(), "flyte")
	md, err := os.ReadFile(filepath.Join(reportDir, "diff.md"))
	require.NoError(t, err)
	assert.Contains(t, string(md), "diff/data-loss")
	assert.Contains(t, string(md), "diff/disruption")
	left, _ := filepath.Glob(filepath.Join(runDir, "*"))
	assert.Empty(t, left, "the run directory (and the base's checkout) are removed")
}
