package local

import (
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/check"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cluster"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/engine"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/test/testenv"
)

// TestUpstreamChartsInstallAndPass runs `harness check --env local` as make test-local does: the real Argo CD
// applies bootstrap.yaml and syncs every Application of the app-of-apps from the exact pinned upstream charts
// (../shared/charts or HARNESS_CHARTS_DIR), wave by wave, until Synced and Healthy; every enabled deploy/* passes
// — none skips — and every other check passes on the pods those charts really create, Karpenter judged by its AWS
// provider. (The same with Helm deploying: TestScenariosForkTheChecksDeploy's first check.)
func TestUpstreamChartsInstallAndPass(t *testing.T) {
	t.Parallel()
	charts := testenv.ChartsDir(t)
	c, _ := testenv.MustEKS(t, testenv.MustShape(t, "local"))
	env := testenv.MustEnv(t, testenv.MustPlatform(t, testenv.Root(), "local"), c, engine.Charts{Dir: charts}, testenv.CRDsDir(t))
	argo := argoCD(t)
	karp := engine.KarpenterConfigAt(testenv.Root())
	run := &check.Run{Env: env, ArgoCD: &argo, Karpenter: &karp, KubeRay: check.KubeRayAt(testenv.Root())}
	// policy/checkov: seconds of Python, the same whatever deploys (test/static covers it).
	rs, err := check.Execute(t.Context(), run, check.Except(check.Steps(), check.PhaseScan), nil)
	require.NoError(t, err)
	deployed := map[string]bool{}
	for _, r := range rs {
		t.Logf("%-28s %-8s %s %v", r.Name, r.Status, r.Message, r.Details)
		assert.NotEqual(t, result.Failed, r.Status, "%s: %s %v", r.Name, r.Message, r.Details)
		if strings.HasPrefix(r.Name, "deploy/") && r.Name != "deploy/workflows" {
			assert.Equal(t, result.Passed, r.Status, "%s: %s", r.Name, r.Message)
			deployed[r.Name] = true
		}
	}
	for _, a := range env.Platform.Apps {
		assert.True(t, deployed["deploy/"+a.Name], "a result for Application %s", a.Name)
	}
	assert.True(t, deployed["deploy/platform-app"], "the root Application's result")
	assert.Len(t, deployed, 11, "platform-app, platform-config, karpenter-node-pools and the eight upstream charts")
	// The repo server's askpass socket was in the run's directory (upstream default: /tmp, left there for good).
	var sock []string
	_ = filepath.WalkDir(argo.Dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() == "askpass.sock" {
			sock = append(sock, p)
		}
		return nil
	})
	assert.NotEmpty(t, sock, "the repo server's askpass socket under %s", argo.Dir)
	real, plugin := 0, 0
	for _, pl := range run.Placements {
		if pl.Real {
			real++
			if pl.Workload.Name == "DaemonSet/nvidia-device-plugin/nvidia-device-plugin" {
				assert.True(t, pl.GPUNode && (pl.Group == "gpu" || pl.NodePool == "gpu"), "the real device plugin runs on GPU nodes: %+v", pl)
				plugin++
			}
		}
	}
	assert.Positive(t, real, "the charts' own pods are judged")
	assert.Equal(t, 3, plugin, "the real device plugin has a pod on each of the 3 GPU nodes (the GPU group's and the two Karpenter launched for the GPU demand)")
}

// TestBrokenUpstreamWiringFails breaks what connects the platform to the real charts, in temporary copies. Each
// case runs the phases of `harness check` its check reads (the same check on the same input: the same verdict):
// the values checks are static and need no cluster; the deploy's version check needs the deploy; the device
// plugin's coverage needs the deploy, Karpenter's nodes and the placement.
func TestBrokenUpstreamWiringFails(t *testing.T) {
	t.Parallel()
	charts := testenv.ChartsDir(t)
	static := []check.Phase{check.PhaseStatic}
	placed := []check.Phase{check.PhaseCRDs, check.PhaseDeploy, check.PhaseControllers, check.PhasePlacement}
	deployed := []check.Phase{check.PhaseCRDs, check.PhaseDeploy}
	tests := []struct {
		name, file, old, new, check, want string
		phases                            []check.Phase
	}{
		{"GPU node group without the label the device plugin needs", "terraform/variables.tf",
			"        \"nvidia.com/gpu.present\" = \"true\"\n", "",
			"gpu-capacity", "DaemonSet DaemonSet/nvidia-device-plugin/nvidia-device-plugin (chart nvidia-device-plugin 0.17.1 (Application nvidia-device-plugin)) covers 2 of 3 GPU node(s), not gpu-0: node selector", placed}, // Karpenter's two nodes carry the NodePool's labels
		{"values key the chart does not have (flyte-binary's storage has no type)", "helm/platform-app/values.yaml",
			"        storage:\n          metadataContainer", "        storage:\n          type: s3\n          metadataContainer",
			"values", "helm/platform-app/values.yaml:169: Application flyte: configuration.storage.type: not a value of chart flyte-binary v1.14.1", static},
		{"values map where the chart has a list", "helm/platform-app/values.yaml",
			"      arguments:\n        - --interval=60", "      arguments:\n        interval: 60\n      argumentz:\n        - --interval=60",
			"values", "Application kube-downscaler: arguments: chart py-kube-downscaler 0.3.2 has a list here, the values give a map", static},
		{"chart version other than the Application's targetRevision", "helm/platform-app/values.yaml",
			"targetRevision: 0.3.2", "targetRevision: 0.3.3",
			"deploy/kube-downscaler", "chart py-kube-downscaler in " + charts + "/py-kube-downscaler is version 0.3.2, but the Application pins targetRevision 0.3.3", deployed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := testenv.CopyRepo(t)
			testenv.Edit(t, root, tc.file, tc.old, tc.new)
			p := testenv.MustPlatform(t, root, "local")
			var c cluster.Cluster
			if !slices.Equal(tc.phases, static) {
				c, _ = testenv.MustEKS(t, p.Shape)
			}
			for _, r := range testenv.CheckPhases(t, root, "local", c, engine.Charts{Dir: charts}, "", tc.phases...) {
				if r.Name == tc.check {
					require.Equal(t, result.Failed, r.Status, r.Message)
					assert.Contains(t, r.Message+"\n"+strings.Join(r.Details, "\n"), tc.want)
					return
				}
			}
			t.Fatalf("no %s result", tc.check)
		})
	}
}
