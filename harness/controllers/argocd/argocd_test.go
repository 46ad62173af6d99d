package argocd

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStartWithoutHelmFailsAtOnce: without the Helm CLI the repo server renders charts with (not in HelmDir, not on
// PATH), Start fails at once naming it and `make argocd`, before anything is installed or started; with
// HelmDir/helm it gets past that.
func TestStartWithoutHelmFailsAtOnce(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "argocd")
	require.NoError(t, os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755))
	helmDir := filepath.Join(dir, "helmdir")
	require.NoError(t, os.MkdirAll(helmDir, 0o755))
	t.Setenv("PATH", t.TempDir())

	t0 := time.Now()
	_, err := Start(t.Context(), nil, Config{Binary: bin, HelmDir: helmDir, Dir: filepath.Join(dir, "run")})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Helm CLI")
	assert.Contains(t, err.Error(), "make argocd")
	assert.Less(t, time.Since(t0), 5*time.Second)
	_, statErr := os.Stat(filepath.Join(dir, "run"))
	assert.True(t, os.IsNotExist(statErr), "nothing created")

	require.NoError(t, os.WriteFile(filepath.Join(helmDir, "helm"), []byte("#!/bin/sh\n"), 0o755))
	p, err := HelmCLI(helmDir)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(helmDir, "helm"), p)
	require.NoError(t, os.Chmod(filepath.Join(helmDir, "helm"), 0o644))
	_, err = HelmCLI(helmDir)
	assert.Error(t, err, "a helm that cannot be run is none")
}
