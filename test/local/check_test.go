package local

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/check"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cluster"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/engine"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/test/testenv"
)

// TestCheckLocalEnvironment runs `harness check --env local` in-process: every check passes or is skipped with
// a reason, and every GPU workload was placed on the GPU group by the real scheduler.
func TestCheckLocalEnvironment(t *testing.T) {
	t.Parallel()
	c, _ := testenv.MustEKS(t, testenv.MustShape(t, "local"))
	rs, run := testenv.Check(t, testenv.Root(), "local", c, engine.Charts{}, testenv.CRDsDir(t))
	byName := map[string]result.Result{}
	for _, r := range rs {
		byName[r.Name] = r
		assert.NotEqual(t, result.Failed, r.Status, "%s: %s %v", r.Name, r.Message, r.Details)
		if r.Status == result.Skipped {
			assert.NotEmpty(t, r.Message, "%s skipped without a reason", r.Name)
		}
	}
	// With the generated CRDs every custom resource is validated: nothing is left as "not validated".
	assert.NotContains(t, byName, "api-acceptance/custom-resources")
	assert.Contains(t, byName["crds"].Details, "rayjobs.ray.io")
	assert.Contains(t, byName["deploy/workflows"].Details, "RayJob/ml-training/train-mlp")
	for _, name := range []string{"crds", "deploy/workflows", "consistency", "cost", "api-acceptance", check.NameKubeRay, "gpu-isolation", "gpu-capacity", "system-fit", "deploy/platform-config"} {
		assert.Equal(t, result.Passed, byName[name].Status, name)
	}
	assert.Equal(t, result.Skipped, byName["deploy/flyte"].Status)
	assert.Contains(t, byName["deploy/flyte"].Message, "chart not fetched")

	// local runs Karpenter beside the GPU node group (desired 1): one GPU workload on the group's node, the other
	// two on the nodes Karpenter launched from NodePool gpu.
	assert.Equal(t, result.Passed, byName["karpenter"].Status, byName["karpenter"].Message)
	// make test builds the AWS provider: it judged the platform's EC2NodeClass and launched the nodes.
	assert.Contains(t, byName["karpenter"].Message, "the real Karpenter AWS provider")
	assert.Contains(t, byName["karpenter"].Message, "judged EC2NodeClass gpu and 1 NodePool(s), unchanged, Ready by its own conditions")
	t.Logf("karpenter: %s %v", byName["karpenter"].Message, byName["karpenter"].Details)
	for _, k := range run.Launched {
		t.Logf("launched by Karpenter: %s %s (NodePool %s)", k.Name, k.InstanceType, k.NodePool)
	}
	gpuPlaced := map[string]bool{}
	where := map[string]int{}
	for _, pl := range run.Placements {
		if pl.Workload.GPUs() > 0 {
			gpuPlaced[pl.Workload.Name] = pl.GPUNode
			where["group="+pl.Group+" nodepool="+pl.NodePool]++
		}
	}
	assert.Equal(t, map[string]bool{
		"RayJob/ml-training/train-mlp/gpu": true,
		"RayService/models/mlp-serve/gpu":  true,
		"Application/flyte/flyte/gpu-task": true,
	}, gpuPlaced)
	assert.Equal(t, map[string]int{"group=gpu nodepool=": 1, "group= nodepool=gpu": 2}, where)
	assert.Len(t, run.Launched, 2, "two g4dn nodes from NodePool gpu")
}

// TestGPUWorkerWithoutTolerationRunsLikeOnEKS: the emulated API server admits like EKS's
// (ExtendedResourceToleration), so a GPU worker without an explicit toleration still lands on the GPU group.
func TestGPUWorkerWithoutTolerationRunsLikeOnEKS(t *testing.T) {
	t.Parallel()
	root := testenv.CopyRepo(t)
	testenv.Edit(t, root, "workflows/ray/rayjob.yaml", "            tolerations:\n              - key: nvidia.com/gpu\n                operator: Exists\n                effect: NoSchedule\n            priorityClassName: ml-training", "            priorityClassName: ml-training")
	c, _ := testenv.MustEKS(t, testenv.MustShape(t, "local"))
	rs, run := testenv.CheckQuick(t, root, "local", c, engine.Charts{}, "")
	for _, r := range rs {
		assert.NotEqual(t, result.Failed, r.Status, "%s: %s %v", r.Name, r.Message, r.Details)
	}
	placed := 0
	for _, pl := range run.Placements {
		if pl.Workload.Name == "RayJob/ml-training/train-mlp/gpu" {
			assert.True(t, pl.GPUNode && (pl.Group == "gpu" || pl.NodePool == "gpu"), "%+v", pl)
			placed++
		}
	}
	assert.Equal(t, 1, placed, "the GPU worker's pod was placed")
}

// TestPrivilegedContainerInstallsLikeOnEKS: EKS runs kube-apiserver with --allow-privileged=true.
func TestPrivilegedContainerInstallsLikeOnEKS(t *testing.T) {
	t.Parallel()
	_, cs := testenv.MustEKS(t, testenv.MustShape(t, "local"))
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "privileged", Namespace: "kube-system"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x", SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true)}}}}}
	_, err := cs.CoreV1().Pods("kube-system").Create(t.Context(), pod, metav1.CreateOptions{})
	require.NoError(t, err)
}

// TestCheckFailsOnBrokenArtifacts breaks the platform in temporary copies and runs the cluster checks: the
// real scheduler's verdict names what broke.
func TestCheckFailsOnBrokenArtifacts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, file, old, new, check, want string
	}{
		{"GPU worker selecting the GPU group without a GPU request or the toleration", "workflows/ray/rayjob.yaml",
			"            tolerations:\n              - key: nvidia.com/gpu\n                operator: Exists\n                effect: NoSchedule\n            priorityClassName: ml-training\n            containers:\n              - name: ray-worker\n                image: rayproject/ray:2.41.0-py311-gpu\n                resources:\n                  requests:\n                    cpu: \"2\"\n                    memory: 8Gi\n                    nvidia.com/gpu: \"1\"\n                  limits:\n                    cpu: \"3\"\n                    memory: 12Gi\n                    nvidia.com/gpu: \"1\"",
			"            priorityClassName: ml-training\n            containers:\n              - name: ray-worker\n                image: rayproject/ray:2.41.0-py311-gpu\n                resources:\n                  requests:\n                    cpu: \"2\"\n                    memory: 8Gi\n                  limits:\n                    cpu: \"3\"\n                    memory: 12Gi",
			"system-fit", "RayJob/ml-training/train-mlp/gpu (workflows/ray/rayjob.yaml) pod"},
		{"system operator asking for more CPU than a t3.large has", "helm/platform-app/values.yaml",
			"        requests:\n          cpu: 100m\n          memory: 256Mi", "        requests:\n          cpu: \"4\"\n          memory: 256Mi",
			"system-fit", "Application/ray-system/kuberay-operator (helm/values (kuberay-operator)) pod"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := testenv.CopyRepo(t)
			testenv.Edit(t, root, tc.file, tc.old, tc.new)
			c, _ := testenv.MustEKS(t, testenv.MustShape(t, "local"))
			rs, _ := testenv.CheckQuick(t, root, "local", c, engine.Charts{}, "")
			for _, r := range rs {
				if r.Name == tc.check {
					require.Equal(t, result.Failed, r.Status, r.Message)
					assert.Contains(t, strings.Join(r.Details, "\n"), tc.want)
					return
				}
			}
			t.Fatalf("no %s result", tc.check)
		})
	}
}

// TestAPIAcceptanceRejectsBrokenCustomResources breaks custom resources in temporary copies: the CRDs generated
// from the upstream Go types make the API server reject them, naming the object, its file and the field.
func TestAPIAcceptanceRejectsBrokenCustomResources(t *testing.T) {
	t.Parallel()
	c, _ := testenv.MustEKS(t, testenv.MustShape(t, "local"))
	r := check.CRDs(testenv.MustEnv(t, testenv.MustPlatform(t, testenv.Root(), "local"), c, engine.Charts{}, testenv.CRDsDir(t)).InstallCRDs(t.Context()))
	require.Equal(t, result.Passed, r.Status, r.Message)
	tests := []struct {
		name, file, old, new string
		rejected             int
		want                 string
	}{
		{"RayJob field typo", "workflows/ray/rayjob.yaml", "shutdownAfterJobFinishes: true", "shutdownAfterJobFinished: true", 1,
			`RayJob/ml-training/train-mlp (workflows/ray/rayjob.yaml): RayJob in version "v1" cannot be handled as a RayJob: strict decoding error: unknown field "spec.shutdownAfterJobFinished"`},
		{"Application sync policy typo", "helm/platform-app/templates/applications.yaml", "      selfHeal: true", "      selfHealing: true", 10, // one per Application
			`unknown field "spec.syncPolicy.automated.selfHealing"`},
		{"InferenceService protocol not in KServe's enum", "workflows/kserve/inferenceservice.yaml", "protocolVersion: v2", "protocolVersion: v3", 1,
			`InferenceService/models/sklearn-iris (workflows/kserve/inferenceservice.yaml): InferenceService.serving.kserve.io "sklearn-iris" is invalid: spec.predictor.model.protocolVersion: Unsupported value: "v3"`},
		{"RayService rayVersion as a number", "workflows/ray/rayservice.yaml", `rayVersion: "2.41.0"`, `rayVersion: 2.41`, 1,
			`RayService/models/mlp-serve (workflows/ray/rayservice.yaml): RayService.ray.io "mlp-serve" is invalid: [spec.rayClusterConfig.rayVersion: Invalid value: "number"`},
	}
	deployed := false
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := testenv.CopyRepo(t)
			testenv.Edit(t, root, tc.file, tc.old, tc.new)
			env := testenv.MustEnv(t, testenv.MustPlatform(t, root, "local"), c, engine.Charts{}, "")
			if !deployed { // the namespaces, quotas and limit ranges the workflows live in
				for _, r := range check.Deploy(env.DeployApps(t.Context())) {
					require.NotEqual(t, result.Failed, r.Status, r.Message)
				}
				deployed = true
			}
			rs := check.APIAcceptance(t.Context(), env)
			require.Equal(t, result.Failed, rs[0].Status, rs[0].Message)
			assert.Regexp(t, fmt.Sprintf(`^%d of \d+ objects rejected by the API server$`, tc.rejected), rs[0].Message)
			assert.Contains(t, strings.Join(rs[0].Details, "\n"), tc.want)
		})
	}
}

// TestCheckFetchesUpstreamCharts serves an upstream chart from a Helm repository in the test (what a laptop
// with network gets from the real one): --fetch-charts pulls it, installs it onto the emulated cluster with its
// webhook configuration left out, and the other upstream apps stay skipped with the reason.
func TestCheckFetchesUpstreamCharts(t *testing.T) {
	t.Parallel()
	chartDir := filepath.Join(t.TempDir(), "py-kube-downscaler")
	require.NoError(t, os.MkdirAll(filepath.Join(chartDir, "templates"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(chartDir, "Chart.yaml"), []byte("apiVersion: v2\nname: py-kube-downscaler\nversion: 0.3.2\n"), 0o644))
	// Its default values hold every key the platform sets (the harness checks them against the chart).
	require.NoError(t, os.WriteFile(filepath.Join(chartDir, "values.yaml"), []byte("arguments: []\nnodeSelector: {}\nresources: {}\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(chartDir, "templates", "all.yaml"), []byte(`apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-args
data:
  args: {{ .Values.arguments | join " " | quote }}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: {{ .Release.Name }}-validate
webhooks:
  - name: validate.downscaler.example.com
    admissionReviewVersions: ["v1"]
    sideEffects: None
    failurePolicy: Fail
    clientConfig:
      service: {name: nobody-serves-this, namespace: {{ .Release.Namespace }}}
    rules:
      - {apiGroups: ["*"], apiVersions: ["*"], operations: ["CREATE"], resources: ["*"]}
`), 0o644))
	url := testenv.ServeChart(t, chartDir)

	root := testenv.CopyRepo(t)
	testenv.Edit(t, root, "helm/platform-app/values.yaml", "repoURL: https://caas-team.github.io/helm-charts/", "repoURL: "+url)
	// The AppProject permits the repository, as it must for Argo CD to sync from it (argocd-sync judges that).
	testenv.Edit(t, root, "helm/bootstrap.yaml", "    - https://caas-team.github.io/helm-charts/\n", "    - "+url+"\n")
	c, cs := testenv.MustEKS(t, testenv.MustShape(t, "local"))
	rs, _ := testenv.CheckQuick(t, root, "local", c, engine.Charts{Fetch: true, Cache: t.TempDir()}, "")
	byName := map[string]result.Result{}
	for _, r := range rs {
		byName[r.Name] = r
		if r.Name == "wiring/args" {
			continue // the stub chart has no RBAC: a true finding about the stub, not the platform
		}
		assert.NotEqual(t, result.Failed, r.Status, "%s: %s %v", r.Name, r.Message, r.Details)
	}
	assert.Equal(t, result.Failed, byName["wiring/args"].Status, "the stub chart grants no RBAC for what the arguments scale")
	assert.Equal(t, result.Passed, byName["deploy/kube-downscaler"].Status, byName["deploy/kube-downscaler"].Message)
	assert.Contains(t, byName["deploy/kube-downscaler"].Message, "1 admission webhook/APIService object(s) left out: their servers are the chart's own pods")
	assert.Contains(t, byName["deploy/kube-downscaler"].Details, "left out: ValidatingWebhookConfiguration kube-downscaler-validate (served by Service kube-downscaler/nobody-serves-this)", "named with the server it would call")
	assert.Equal(t, result.Skipped, byName["deploy/flyte"].Status)
	assert.Contains(t, byName["deploy/flyte"].Message, "chart not fetched: pull flyte-binary")

	cm, err := cs.CoreV1().ConfigMaps("kube-downscaler").Get(t.Context(), "kube-downscaler-args", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Contains(t, cm.Data["args"], "--namespace=ml-training,models", "installed with the Application's values")
	hooks, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().List(t.Context(), metav1.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, hooks.Items)
}

// TestCheckOnARealClusterLeavesNoWorkload: on a cluster that is not emulated (the existing backend, e.g. real
// EKS) the workflow manifests are only dry-run — creating them would start real GPU work — and the probes are
// deleted afterwards. Here: an embedded cluster reached as an existing one, through its kubeconfig.
func TestCheckOnARealClusterLeavesNoWorkload(t *testing.T) {
	t.Parallel()
	emb, cs := testenv.MustEKS(t, testenv.MustShape(t, "local"))
	c, err := cluster.New(t.Context(), cluster.Config{Backend: cluster.Existing, Shape: emb.Shape(), Kubeconfig: emb.Kubeconfig()})
	require.NoError(t, err)
	require.NoError(t, c.Start(t.Context()))
	require.False(t, c.Emulated())
	rs, _ := testenv.CheckQuick(t, testenv.Root(), "local", c, engine.Charts{}, "")
	for _, r := range rs {
		if r.Name == "deploy/workflows" {
			assert.Equal(t, result.Skipped, r.Status)
			assert.Contains(t, r.Message, "only dry-run")
		}
	}
	ds, err := cs.AppsV1().Deployments("").List(t.Context(), metav1.ListOptions{LabelSelector: "mlops.io/probe"})
	require.NoError(t, err)
	assert.Empty(t, ds.Items, "probe Deployments deleted")
	dss, err := cs.AppsV1().DaemonSets("").List(t.Context(), metav1.ListOptions{LabelSelector: "mlops.io/probe"})
	require.NoError(t, err)
	assert.Empty(t, dss.Items, "probe DaemonSets deleted")
}
