package local

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/test/testenv"
)

// TestScenariosForkTheChecksDeploy runs `harness check` with a scenario whose first step deploys the platform
// (bin/harness, as `make test-local` does), then `harness run` of it: the scenario starts from the check's snapshot
// of the same deploy instead of deploying again, and passes; beside the check, its output comes after the check's. A changed file is another deploy (another key); a
// mistake (cert-manager's cainjector asking for 7 GiB, more than a t3.large's allocatable memory: the corpus's
// kserve-predictor-memory-beyond-t3-large, on a chart) fails the scenario when it forks the check's deploy of that
// very mistake (the deploy passed, the placement did not), as a fresh deploy does (measured: the same verdict). Nothing is left in the run directory.
func TestScenariosForkTheChecksDeploy(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(testenv.Root(), "bin", "harness")
	require.FileExists(t, bin, "make build (make test builds it)")
	testenv.ChartsDir(t)
	root := testenv.CopyRepo(t)
	// The same generated CRDs (and Argo CD build) as the repository's: part of what a deploy is.
	require.NoError(t, os.Symlink(filepath.Join(testenv.Root(), "bin"), filepath.Join(root, "bin")))
	if venv := filepath.Join(testenv.Root(), ".venv-checkov"); dirExists(venv) { // checkov, installed once
		require.NoError(t, os.Symlink(venv, filepath.Join(root, ".venv-checkov")))
	}
	// One step: the platform deployed, every system pod placed (the shipped night-scale-to-zero's first step).
	scenario := filepath.Join(root, "scenarios", "fork.yaml")
	require.NoError(t, os.WriteFile(scenario, []byte(`apiVersion: harness.mlops.io/v1alpha1
kind: Scenario
metadata:
  name: fork
  description: The platform deployed, every system pod placed.
spec:
  environment: local
  steps:
    - name: deploy the platform
      deploy:
        scaleForGPUs: true
      expect:
        systemPodsPending: 0
`), 0o644))
	runDir, snaps := t.TempDir(), t.TempDir()
	harness := func(args ...string) (string, int) {
		t.Helper()
		args = append(args[:1:1], append([]string{"--env", "local", "--root", root, "--run-dir", runDir, "--deploy", "helm",
			"--snapshots", snaps, "--report-dir", t.TempDir()}, args[1:]...)...)
		cmd := exec.CommandContext(t.Context(), bin, args...)
		cmd.Dir = root
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		t.Logf("harness %v:\n%s", args, out.String())
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return out.String(), exit.ExitCode()
		}
		require.NoError(t, err)
		return out.String(), 0
	}

	// The scenario given to the check (as make test-local gives them) runs beside it, from the snapshot of its deploy;
	// its output comes after the check's.
	out, code := harness("check", scenario)
	require.Equal(t, 0, code, "harness check on the repository's platform, and the scenario beside it")
	assert.Contains(t, out, "deployed platform snapshot in")
	assert.Contains(t, out, "forked from harness check's snapshot")
	assert.NotContains(t, out, "installed 10 of")
	assert.Less(t, strings.Index(out, "report: "), strings.Index(out, "scenario fork ("), "the scenario's output after the check's")
	assert.Equal(t, []string{"fork/1 deploy the platform: passed"}, verdicts(out))
	// A second check of the same repository with --reuse-deploy (as make test-local runs it) starts from that deploy's
	// snapshot and reports its verdicts: the same ones, not deployed again.
	again, code := harness("check", "--reuse-deploy")
	require.Equal(t, 0, code)
	assert.Contains(t, again, "not deployed again: the cluster started in")
	assert.NotContains(t, again, "deployed platform snapshot in")
	assert.NotEmpty(t, deployVerdicts(out))
	assert.Equal(t, deployVerdicts(out), deployVerdicts(again))
	// harness run, later, forks the same snapshot.
	out, code = harness("run", scenario)
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "forked from harness check's snapshot")
	assert.NotContains(t, out, "installed 10 of")

	testenv.Edit(t, root, "helm/platform-app/values.yaml", "            cpu: 10m\n            memory: 64Mi\n          limits:\n            memory: 256Mi\n",
		"            cpu: 10m\n            memory: 7Gi\n          limits:\n            memory: 7Gi\n")
	forked, code := harness("check", "--reuse-deploy", scenario)
	assert.Equal(t, 1, code, "the mistake fails the check, after a deploy that passed")
	assert.NotContains(t, forked, "not deployed again", "a changed file is another deploy: it is not reused")
	assert.Contains(t, forked, "deployed platform snapshot in")
	assert.Contains(t, forked, "scenario fork (")
	assert.Contains(t, forked, "forked from harness check's snapshot")
	assert.Equal(t, []string{"fork/1 deploy the platform: failed"}, verdicts(forked))
	assert.Contains(t, forked, "systemPodsPending: want 0, got 1")

	dirs, _ := filepath.Glob(filepath.Join(runDir, "harness-*"))
	for _, d := range dirs {
		assert.FileExists(t, filepath.Join(d, "kept"), "only the failed runs' kept run directories are left")
	}
}

func dirExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// deployVerdicts are the summary table's deploy/... names and statuses.
func deployVerdicts(out string) []string {
	var vs []string
	for _, m := range regexp.MustCompile(`(?m)^(deploy/\S+)\s{2,}(passed|failed|skipped)\s`).FindAllStringSubmatch(out, -1) {
		vs = append(vs, m[1]+": "+m[2])
	}
	return vs
}

// verdicts are the summary table's step names and statuses.
func verdicts(out string) []string {
	var vs []string
	for _, m := range regexp.MustCompile(`(?m)^(fork/\d[^\n]*?)\s{2,}(passed|failed|skipped)\s`).FindAllStringSubmatch(out, -1) {
		vs = append(vs, m[1]+": "+m[2])
	}
	return vs
}
