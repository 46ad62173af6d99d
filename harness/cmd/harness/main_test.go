package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/deploy"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/test/testenv"
)

// TestUnknownEnvironmentListsValidOnesAndCreatesNothing: bad input is one clear error before anything starts —
// no cluster, no results directory.
func TestUnknownEnvironmentListsValidOnesAndCreatesNothing(t *testing.T) {
	root := testenv.CopyRepo(t)
	for _, args := range [][]string{
		{"check", "--env", "nosuchenv", "--root", root},
		{"check", "--env", "nosuchenv", "--root", root, "--static"},
		{"up", "--env", "nosuchenv", "--root", root},
	} {
		stderr := captureStderr(t, func() {
			assert.Equal(t, 1, run(t.Context(), args), args)
		})
		assert.Contains(t, stderr, `environment "nosuchenv" has no tfvars file; environments: dev, local, prod`, args)
		assert.Contains(t, stderr, filepath.Join(root, "terraform", "env", "nosuchenv.tfvars"), args)
		assert.NoDirExists(t, filepath.Join(root, "test", "results"), "nothing created for %v", args)
	}
}

func TestInterruptedExitStatus(t *testing.T) {
	assert.Equal(t, 130, exitInterrupted(interrupted{syscall.SIGINT}))
	assert.Equal(t, 143, exitInterrupted(interrupted{syscall.SIGTERM}))
	ctx, cancel := context.WithCancelCause(t.Context())
	cancel(interrupted{syscall.SIGINT})
	// A command that ends because of the signal exits 130 and says "interrupted", whatever error it returned.
	stderr := captureStderr(t, func() {
		assert.Equal(t, 130, run(ctx, []string{"check", "--env", "local", "--root", testenv.Root(), "--static", "--report-dir", t.TempDir()}))
	})
	assert.Contains(t, stderr, "harness check: interrupted")
}

func captureStderr(t *testing.T, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	require.NoError(t, err)
	old := os.Stderr
	os.Stderr = w
	done := make(chan []byte)
	go func() {
		var buf []byte
		b := make([]byte, 4096)
		for {
			n, err := r.Read(b)
			buf = append(buf, b[:n]...)
			if err != nil {
				done <- buf
				return
			}
		}
	}()
	f()
	os.Stderr = old
	w.Close()
	return string(<-done)
}

// TestChartsPullRecordsAndVerifiesDigests: `harness charts pull` against a Helm repository served by the test
// caches the chart, records its archive's sha256 in helm/charts.lock, and a later pull of a different archive
// under the same version is refused.
func TestChartsPullRecordsAndVerifiesDigests(t *testing.T) {
	serve := func(description string) string {
		chartDir := filepath.Join(t.TempDir(), "py-kube-downscaler")
		require.NoError(t, os.MkdirAll(chartDir, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(chartDir, "Chart.yaml"), []byte("apiVersion: v2\nname: py-kube-downscaler\nversion: 0.3.2\ndescription: "+description+"\n"), 0o644))
		return testenv.ServeChart(t, chartDir)
	}
	url := serve("first")
	root := testenv.CopyRepo(t)
	testenv.Edit(t, root, "helm/platform-app/values.yaml", "repoURL: https://caas-team.github.io/helm-charts/", "repoURL: "+url)
	cache := t.TempDir()
	// The other charts' repositories are not reachable from here: those pulls fail and are named; the one served
	// is pulled and locked.
	assert.Equal(t, 1, run(t.Context(), []string{"charts", "pull", "--root", root, "--env", "local", "--charts-cache", cache}))
	lock, err := deploy.ReadLock(filepath.Join(root, deploy.LockFile))
	require.NoError(t, err)
	digest := lock.Digest(url, "py-kube-downscaler", "0.3.2")
	require.Len(t, digest, 64)
	_, cached, ok := deploy.CachedChart(cache, "py-kube-downscaler", "0.3.2")
	require.True(t, ok)
	assert.Equal(t, digest, cached)

	// Same name and version, different archive (a re-published chart): refused against the lock.
	url2 := serve("second")
	testenv.Edit(t, root, "helm/platform-app/values.yaml", "repoURL: "+url, "repoURL: "+url2)
	lock.Set(deploy.LockedChart{Name: "py-kube-downscaler", Version: "0.3.2", Repo: url2, SHA256: digest})
	require.NoError(t, lock.Write(filepath.Join(root, deploy.LockFile)))
	stderr := captureStderr(t, func() {
		assert.Equal(t, 1, run(t.Context(), []string{"charts", "pull", "--root", root, "--env", "local", "--charts-cache", t.TempDir()}))
	})
	assert.Contains(t, stderr, "py-kube-downscaler")
}

// A run in which upstream charts were not available is incomplete: the Applications not judged are named, from
// their deploy results and from the parts of checks reported apart.
func TestNotJudgedNamesTheApplicationsWithoutCharts(t *testing.T) {
	rs := []result.Result{
		{Name: "deploy/flyte", Status: result.Skipped, Message: "chart not fetched: flyte-binary v1.14.1 from https://x (not in /c nor the chart cache)"},
		{Name: "values [karpenter, kserve]", Status: result.Skipped, Message: "2 chart(s) not rendered, so not everything could be checked (karpenter, kserve): chart not fetched: karpenter"},
		{Name: "workload/kfp", Status: result.Skipped, Message: "the workload tier is off"},
		{Name: "consistency", Status: result.Passed},
	}
	if got := notJudged(rs); strings.Join(got, ",") != "flyte,karpenter,kserve" {
		t.Fatalf("notJudged = %v", got)
	}
	if got := notJudged(rs[2:]); len(got) != 0 {
		t.Fatalf("a run with every chart is complete: %v", got)
	}
}

// The exit of check and diff: a failure fails; Applications not judged for want of charts make the run
// incomplete (exit 3), unless --partial asked for such a run; otherwise it passed.
func TestVerdictIsIncompleteWhenChartsWereMissing(t *testing.T) {
	skipped := result.Result{Name: "deploy/flyte", Status: result.Skipped, Message: "chart not fetched: flyte-binary v1.14.1"}
	failed := result.Result{Name: "diff/data-loss", Status: result.Failed}
	assert.ErrorIs(t, verdict([]result.Result{skipped, failed}, true), errChecksFailed)
	assert.ErrorIs(t, verdict([]result.Result{skipped}, false), errIncomplete)
	assert.NoError(t, verdict([]result.Result{skipped}, true))
	assert.NoError(t, verdict([]result.Result{{Name: "consistency", Status: result.Passed}}, false))
}

// TestDefaultSnapshotsFollowsTheUserCache: the deploy snapshots live where the harness's other machine-wide stores
// do (the user's cache, or $HARNESS_SNAPSHOTS; "none" turns the store off), and without a user cache directory the
// store is off rather than left in the temporary directory after the run.
func TestDefaultSnapshotsFollowsTheUserCache(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("HARNESS_SNAPSHOTS", "")
	t.Setenv("XDG_CACHE_HOME", cache)
	assert.Equal(t, filepath.Join(cache, "eks-mlops-harness", "snapshots"), defaultSnapshots())
	t.Setenv("HARNESS_SNAPSHOTS", "/elsewhere/snapshots")
	assert.Equal(t, "/elsewhere/snapshots", defaultSnapshots())
	t.Setenv("HARNESS_SNAPSHOTS", "none")
	assert.True(t, snapshotStore{defaultSnapshots()}.off())
	t.Setenv("HARNESS_SNAPSHOTS", "")
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "")
	assert.True(t, snapshotStore{defaultSnapshots()}.off(), "no user cache: no store (not one under %s)", os.TempDir())
}

// TestAutoDeploysWithHelmWhenArgoCDHasNoHelmCLI: bin/argocd built but not the bin/helm its repo server renders
// charts with (nor a helm on PATH): --deploy auto says so and deploys with Helm, instead of an Argo CD sync that
// waits out its timeout on "helm: executable file not found".
func TestAutoDeploysWithHelmWhenArgoCDHasNoHelmCLI(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "bin"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "bin", "argocd"), []byte("#!/bin/sh\n"), 0o755))
	emptyPath := t.TempDir()
	t.Setenv("PATH", emptyPath)
	assert.Contains(t, argoUnavailable(root), "Helm CLI")

	require.NoError(t, os.WriteFile(filepath.Join(root, "bin", "helm"), []byte("#!/bin/sh\n"), 0o755))
	assert.NotContains(t, argoUnavailable(root), "Helm CLI", "bin/helm built")
}
