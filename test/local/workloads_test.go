package local

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/check"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/check/workload"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/engine"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/test/testenv"
)

// workloadConfig shares the repository's runtimes (installed once, by lock) and moto with every copy of it.
func workloadConfig(t *testing.T) workload.Config {
	return workload.Config{
		Dir:      t.TempDir(),
		VenvDir:  filepath.Join(testenv.Root(), ".venv-workloads"),
		MotoVenv: filepath.Join(testenv.Root(), ".venv"),
		KubeRay:  filepath.Join(testenv.Root(), "bin", "kuberay"),
		Progress: func(s string) { t.Log(s) },
	}
}

// workloadSteps are the steps the workload tier needs on a cluster: the CRDs, the in-repo charts (namespaces,
// service accounts, priority classes), the workflow manifests, and the tier.
func workloadSteps() []check.Step {
	return check.Select(check.Steps(), check.PhaseCRDs, check.PhaseDeploy, check.PhaseWorkflows, check.PhaseWorkload)
}

func byName(rs []result.Result) map[string]result.Result {
	out := map[string]result.Result{}
	for _, r := range rs {
		out[r.Name] = r
	}
	return out
}

// rayTierWith is the workload tier of a copy of the repository with one edit, on an embedded cluster holding what
// the Ray steps need (the CRDs, the in-repo charts, the workflow manifests); the tier stops with the test.
func rayTierWith(t *testing.T, file, old, new string) *workload.Tier {
	t.Helper()
	c, _ := testenv.MustEmbedded(t, testenv.MustShape(t, "local"))
	root := testenv.CopyRepo(t)
	testenv.Edit(t, root, file, old, new)
	cfg := workloadConfig(t)
	cfg.Platform = testenv.MustPlatform(t, root, "local")
	run := &check.Run{Env: testenv.MustEnv(t, cfg.Platform, c, engine.Charts{}, testenv.CRDsDir(t))}
	_, err := check.Execute(t.Context(), run, workloadSteps()[:3], nil) // CRDs, in-repo charts, workflows
	require.NoError(t, err)
	cfg.Rest, cfg.Kubeconfig = c.RESTConfig(), c.Kubeconfig()
	tier, err := workload.New(cfg)
	require.NoError(t, err)
	t.Cleanup(tier.Stop)
	return tier
}

// TestWorkloadTier: a Ray entrypoint that exits non-zero fails workload/ray-train with the job's log, through the
// real KubeRay operator and a local Ray head. The tier passing on the repository's own workflow code (the Flyte
// pipeline with flytekit, the model it publishes served by KServe's ModelServer, the RayJob and RayService through
// KubeRay, the KFP pipeline compiled by kfp; the RayJob's worker pod placed) is TestNightlyFlowOnEmbeddedAndMoto's
// `harness check --workloads` on the platform Argo CD synced: running all five again here cost ~2 minutes of Python.
func TestWorkloadTier(t *testing.T) {
	t.Parallel()
	tier := rayTierWith(t, "workflows/ray/train_ray.py", "def main() -> None:\n", "def main() -> None:\n    raise SystemExit(\"no data in this bucket (a breaking test)\")\n")
	r := tier.RayTrain(t.Context())
	require.Equal(t, result.Failed, r.Status, "%s", r.Message)
	assert.Contains(t, r.Message, "FAILED")
	assert.Contains(t, strings.Join(r.Details, "\n"), "no data in this bucket (a breaking test)", "the job's log tail")
}

// TestServeAppThatCannotImportFailsRayServeAtOnce: a Serve application whose module raises on import is reported
// DEPLOY_FAILED by Serve through KubeRay; workload/ray-serve fails at once with Serve's message (not after the
// five-minute Ready wait).
func TestServeAppThatCannotImportFailsRayServeAtOnce(t *testing.T) {
	t.Parallel()
	tier := rayTierWith(t, "workflows/ray/serve_app.py", "import io\n", "import io\n\nraise ImportError(\"serve app cannot import (a breaking test)\")\n")
	train := tier.RayTrain(t.Context())
	require.Equal(t, result.Passed, train.Status, "%s %v", train.Message, train.Details)
	t0 := time.Now()
	r := tier.RayServe(t.Context())
	require.Equal(t, result.Failed, r.Status, "%s", r.Message)
	assert.Contains(t, r.Message, "DEPLOY_FAILED")
	assert.Contains(t, r.Message+strings.Join(r.Details, "\n"), "serve app cannot import (a breaking test)")
	assert.Less(t, time.Since(t0), 2*time.Minute, "a failed deploy ends the wait before the five-minute timeout")
}

// TestFlyteTaskFailureNamesTheTask: a task that raises fails workload/flyte naming the task.
func TestFlyteTaskFailureNamesTheTask(t *testing.T) {
	t.Parallel()
	root := testenv.CopyRepo(t)
	testenv.Edit(t, root, "workflows/flyte/training_pipeline.py",
		`    """Standardise features; cached, so re-runs with the same data skip it."""`+"\n",
		`    """Standardise features; cached, so re-runs with the same data skip it."""`+"\n    raise RuntimeError(\"features are all NaN (a breaking test)\")\n")
	cfg := workloadConfig(t)
	cfg.Platform = testenv.MustPlatform(t, root, "local")
	tier, err := workload.New(cfg)
	require.NoError(t, err)
	defer tier.Stop()
	r := tier.Flyte(t.Context())
	require.Equal(t, result.Failed, r.Status, "%s", r.Message)
	assert.Contains(t, r.Message, "task training_pipeline.preprocess failed")
	assert.Contains(t, strings.Join(r.Details, "\n"), "features are all NaN")
}

// TestModelTheRuntimeCannotLoadFailsKServe: the pipeline publishes its model in a file KServe's sklearn runtime
// does not load (not .joblib/.pkl/.pickle): the pipeline passes, workload/kserve fails.
func TestModelTheRuntimeCannotLoadFailsKServe(t *testing.T) {
	t.Parallel()
	root := testenv.CopyRepo(t)
	for i := 0; i < 2; i++ { // train writes it, evaluate reads it
		testenv.Edit(t, root, "workflows/flyte/training_pipeline.py", `"model.joblib"`, `"model.bin"`)
	}
	cfg := workloadConfig(t)
	cfg.Platform = testenv.MustPlatform(t, root, "local")
	tier, err := workload.New(cfg)
	require.NoError(t, err)
	defer tier.Stop()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	flyte := tier.Flyte(ctx)
	require.Equal(t, result.Passed, flyte.Status, "%s %v", flyte.Message, flyte.Details)
	assert.Contains(t, flyte.Message, "model.bin")
	assert.NoDirExists(t, filepath.Join(root, "model"), "the pipeline writes its model in the task's working directory, never into the repository")
	r := tier.KServe(ctx)
	require.Equal(t, result.Failed, r.Status, "%s", r.Message)
	assert.Contains(t, r.Message, "never became ready")
	assert.Contains(t, strings.Join(r.Details, "\n"), "ModelMissingError")
}

// TestKFPStepWithoutTheGPUTolerationFails: the compiled IR is judged against the GPU node group.
func TestKFPStepWithoutTheGPUTolerationFails(t *testing.T) {
	t.Parallel()
	root := testenv.CopyRepo(t)
	testenv.Edit(t, root, "workflows/kfp/pipeline.py",
		`    kubernetes.add_toleration(step, key="nvidia.com/gpu", operator="Exists", effect="NoSchedule")`+"\n", "")
	cfg := workloadConfig(t)
	cfg.Platform = testenv.MustPlatform(t, root, "local")
	tier, err := workload.New(cfg)
	require.NoError(t, err)
	defer tier.Stop()
	r := tier.KFP(t.Context())
	require.Equal(t, result.Failed, r.Status, "%s", r.Message)
	assert.Contains(t, strings.Join(r.Details, "\n"), "exec-train-and-evaluate asks for a GPU but does not tolerate node group gpu's taints nvidia.com/gpu=true:NoSchedule")
}
