package engine_test

import (
	"net/http"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/engine"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/test/testenv"
)

// TestAWSSideAheadNotTakenIsStopped: the AWS side brought up ahead of the karpenter step (moto holding the emulated
// apply of terraform/) that no karpenter step takes — the run failed or ended first — is stopped by StopKarpenter:
// moto no longer answers and its directory is gone.
func TestAWSSideAheadNotTakenIsStopped(t *testing.T) {
	e, err := engine.NewEnv(testenv.MustPlatform(t, testenv.Root(), "local"), nil, engine.Charts{}, "")
	require.NoError(t, err)
	cfg := engine.KarpenterConfigAt(testenv.Root())
	dir, endpoint, err := e.StartAWSSideForTest(t.Context(), cfg)
	t.Cleanup(e.StopKarpenter)
	require.NoError(t, err)
	require.FileExists(t, filepath.Join(dir, "apply.log"))
	resp, err := http.Get(endpoint + "/moto-api/")
	require.NoError(t, err, "moto answers while the side is up")
	resp.Body.Close()

	e.StopKarpenter()
	assert.NoDirExists(t, dir)
	if resp, err := http.Get(endpoint + "/moto-api/"); err == nil {
		resp.Body.Close()
		t.Fatalf("moto still answers at %s after StopKarpenter", endpoint)
	}
}
