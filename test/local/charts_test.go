package local

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/engine"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/test/testenv"
)

// TestUpstreamChartsInstallAndPass installs the exact pinned upstream charts (../shared/charts or
// HARNESS_CHARTS_DIR) on the emulated cluster: every enabled deploy/* passes — none skips — and every check passes
// on the pods those charts really create.
func TestUpstreamChartsInstallAndPass(t *testing.T) {
	t.Parallel()
	charts := testenv.ChartsDir(t)
	c, _ := testenv.MustEKS(t, testenv.MustShape(t, "local"))
	rs, run := testenv.Check(t, testenv.Root(), "local", c, engine.Charts{Dir: charts}, testenv.CRDsDir(t))
	deployed := 0
	for _, r := range rs {
		assert.NotEqual(t, result.Failed, r.Status, "%s: %s %v", r.Name, r.Message, r.Details)
		if strings.HasPrefix(r.Name, "deploy/") && r.Name != "deploy/workflows" {
			assert.Equal(t, result.Passed, r.Status, "%s: %s", r.Name, r.Message)
			deployed++
		}
	}
	assert.Equal(t, 10, deployed, "platform-config, karpenter-node-pools and the eight upstream charts")
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

// TestBrokenUpstreamWiringFails breaks what connects the platform to the real charts, in temporary copies.
func TestBrokenUpstreamWiringFails(t *testing.T) {
	t.Parallel()
	charts := testenv.ChartsDir(t)
	tests := []struct{ name, file, old, new, check, want string }{
		{"GPU node group without the label the device plugin needs", "terraform/variables.tf",
			"        \"nvidia.com/gpu.present\" = \"true\"\n", "",
			"gpu-capacity", "DaemonSet DaemonSet/nvidia-device-plugin/nvidia-device-plugin (chart nvidia-device-plugin 0.17.1 (Application nvidia-device-plugin)) covers 2 of 3 GPU node(s), not gpu-0: node selector"}, // Karpenter's two nodes carry the NodePool's labels
		{"values key the chart does not have (flyte-binary's storage has no type)", "helm/platform-app/values.yaml",
			"        storage:\n          metadataContainer", "        storage:\n          type: s3\n          metadataContainer",
			"values", "helm/platform-app/values.yaml:169: Application flyte: configuration.storage.type: not a value of chart flyte-binary v1.14.1"},
		{"values map where the chart has a list", "helm/platform-app/values.yaml",
			"      arguments:\n        - --interval=60", "      arguments:\n        interval: 60\n      argumentz:\n        - --interval=60",
			"values", "Application kube-downscaler: arguments: chart py-kube-downscaler 0.3.2 has a list here, the values give a map"},
		{"chart version other than the Application's targetRevision", "helm/platform-app/values.yaml",
			"targetRevision: 0.3.2", "targetRevision: 0.3.3",
			"deploy/kube-downscaler", "chart py-kube-downscaler in " + charts + "/py-kube-downscaler is version 0.3.2, but the Application pins targetRevision 0.3.3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := testenv.CopyRepo(t)
			testenv.Edit(t, root, tc.file, tc.old, tc.new)
			p := testenv.MustPlatform(t, root, "local")
			c, _ := testenv.MustEKS(t, p.Shape)
			rs, _ := testenv.CheckQuick(t, root, "local", c, engine.Charts{Dir: charts}, "")
			for _, r := range rs {
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
