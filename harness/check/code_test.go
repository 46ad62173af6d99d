package check_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/check"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/platform"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/test/testenv"
)

func TestWorkloadCodePassesForEveryEnvironment(t *testing.T) {
	t.Parallel()
	for _, env := range []string{"local", "dev", "prod"} {
		p, err := platform.Load(root, env)
		require.NoError(t, err)
		r := check.WorkloadCode(p)
		assert.Equal(t, result.Passed, r.Status, "%s: %s %v", env, r.Message, r.Details)
		assert.Contains(t, strings.Join(r.Details, "\n"), "entrypoint train_ray.py")
		assert.Contains(t, strings.Join(r.Details, "\n"), "import serve_app:app")
	}
}

// TestWorkloadCodeNamesWhatBroke: each defect the workflows had (or could get) fails consistency/code naming it.
func TestWorkloadCodeNamesWhatBroke(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, file, old, new, want string
	}{
		{"worker image never published for this Ray version", "workflows/ray/rayjob.yaml",
			"image: rayproject/ray:2.41.0-py311-gpu", "image: rayproject/ray-ml:2.41.0-py311-gpu",
			"rayproject/ray-ml was last published for Ray 2.30"},
		{"entrypoint in no image", "workflows/ray/rayjob.yaml",
			"entrypoint: python train_ray.py", "entrypoint: python /home/ray/workflows/ray/train_ray.py",
			"entrypoint /home/ray/workflows/ray/train_ray.py is an absolute path: in no image this repository builds"},
		{"entrypoint the working_dir does not ship", "workflows/ray/rayjob.yaml",
			"entrypoint: python train_ray.py", "entrypoint: python train.py",
			"entrypoint train.py is not in workflows/ray, the directory its working_dir ships"},
		{"no working_dir", "workflows/ray/rayjob.yaml",
			"    working_dir: s3://${ARTIFACTS_BUCKET}/code/workflows-ray.zip\n", "",
			"the job has no runtime_env working_dir"},
		{"serve import as a package path the working_dir does not have", "workflows/ray/rayservice.yaml",
			"import_path: serve_app:app", "import_path: workflows.ray.serve_app:app",
			"import_path workflows.ray.serve_app:app workflows/ray/serve_app.py is not in workflows/ray"},
		{"runtime_env pin that is not the lock's", "workflows/ray/rayjob.yaml",
			"      - torch==2.5.1", "      - torch==2.4.0",
			"runtime_env pip torch==2.4.0, but workflows/requirements/ray.txt pins \"2.5.1\""},
		{"unpinned runtime_env package", "workflows/ray/rayservice.yaml",
			"            - torch==2.5.1", "            - torch",
			"runtime_env pip \"torch\" is not pinned"},
		{"serve deployment's pin that is not the lock's", "workflows/ray/rayservice.yaml",
			"                  - torch==2.5.1", "                  - torch==2.4.0",
			"runtime_env pip torch==2.4.0, but workflows/requirements/ray.txt pins \"2.5.1\""},
		// ray-project/kuberay#1090: a replica needing more CPUs than any one Ray node starts with.
		{"serve replica reserving more than any Ray node offers", "workflows/ray/rayservice.yaml",
			"            ray_actor_options:\n              num_gpus: 1\n", "            ray_actor_options:\n              num_cpus: 3\n              num_gpus: 1\n",
			"Serve deployment MLPClassifier of application mlp reserves CPU=3, GPU=1 per replica (ray_actor_options), which no Ray node of its RayCluster offers (head offers CPU=1, no custom resource or GPU; gpu offers CPU=2, GPU=1)"},
		{"driver placed by a resource no group offers", "workflows/ray/rayjob.yaml",
			"        resources:\n          driver: \"1\"\n", "",
			"the driver reserves driver=1 (spec.entrypointResources/entrypointNumGpus), which no group of its RayCluster offers (head offers no custom resource or GPU; gpu offers GPU=1)"},
		{"driver asking for more GPUs than a group has", "workflows/ray/rayjob.yaml",
			"  entrypointResources: '{\"driver\": 1}'\n", "  entrypointResources: '{\"driver\": 1}'\n  entrypointNumGpus: 2\n",
			"the driver reserves GPU=2, driver=1"},
		{"entrypointResources that is not JSON", "workflows/ray/rayjob.yaml",
			"  entrypointResources: '{\"driver\": 1}'\n", "  entrypointResources: 'driver=1'\n",
			"spec.entrypointResources \"driver=1\" is not a JSON object of numbers"},
		{"rayVersion that is not the images' nor the lock's", "workflows/ray/rayjob.yaml",
			"    rayVersion: \"2.41.0\"", "    rayVersion: \"2.40.0\"",
			"rayVersion 2.40.0, but workflows/requirements/ray.txt pins ray 2.41.0"},
		{"unpinned image", "workflows/ray/rayservice.yaml",
			"image: rayproject/ray:2.41.0-py311\n", "image: rayproject/ray\n",
			"image rayproject/ray is not pinned to a version"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := testenv.CopyRepo(t)
			testenv.Edit(t, dir, tc.file, tc.old, tc.new)
			p, err := platform.Load(dir, "local")
			require.NoError(t, err)
			r := check.WorkloadCode(p)
			require.Equal(t, result.Failed, r.Status, r.Message)
			assert.Contains(t, strings.Join(r.Details, "\n"), tc.want)
		})
	}
}
