package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/pyenv"
)

// TestRuntimesCommand: the small command installs a lock as `harness runtimes` does (exit 0, then current), and
// says what is wrong with a bad command line (exit 2).
func TestRuntimesCommand(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("skipped: no python3")
	}
	t.Setenv(pyenv.EnvStore, t.TempDir()) // not the machine's store
	root := t.TempDir()
	reqs := filepath.Join(root, "workflows", "requirements")
	require.NoError(t, os.MkdirAll(reqs, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(reqs, "empty.txt"), []byte("# no packages\n"), 0o644))

	assert.Equal(t, 0, run(t.Context(), []string{"--root", root, "--what", "workloads"}))
	assert.FileExists(t, filepath.Join(root, ".venv-workloads", "empty", "bin", "python"))
	assert.Equal(t, 0, run(t.Context(), []string{"--root", root, "--what", "workloads"}), "current the second time")
	assert.Equal(t, 2, run(t.Context(), []string{"--root", root, "--what", "conda"}))
	assert.Equal(t, 2, run(t.Context(), []string{"--root", root, "extra"}))
	assert.Equal(t, 2, run(t.Context(), []string{"--no-such-flag"}))
	// A repository without locks is an error of the run (exit 1), not of the command line.
	assert.Equal(t, 1, run(t.Context(), []string{"--root", t.TempDir()}))
}
