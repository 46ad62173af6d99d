package check_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/check"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/deploy"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/engine"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/platform"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
)

// The device plugin's coverage is judged on the GPU nodes the cluster lists, whatever their names: a rolled node
// group's surged nodes (gpu-3..) and a real EKS cluster's (ip-10-...) are not named after the shape.
func TestDevicePluginCoverageReadsTheClusterNodes(t *testing.T) {
	t.Parallel()
	p, err := platform.Load(root, "local")
	require.NoError(t, err)
	plugin := deploy.Workload{Name: "DaemonSet/nvidia-device-plugin/nvidia-device-plugin", DaemonSet: true, Replicas: 1}
	var ps []engine.Placement
	for _, n := range []string{"gpu-3", "ip-10-0-1-5.ec2.internal"} {
		ps = append(ps, engine.Placement{Workload: plugin, Pod: "nvidia-device-plugin/p-" + n, Node: n, Group: "gpu", GPUNode: true, Real: true})
	}
	watched := []deploy.Workload{plugin}

	r := check.GPUCapacity(p, p.Shape, watched, ps, nil, nil, []string{"gpu-3", "ip-10-0-1-5.ec2.internal"})
	assert.Equal(t, result.Passed, r.Status, "%s %v", r.Message, r.Details)
	assert.NotContains(t, strings.Join(r.Details, "\n"), "covers", "every GPU node the cluster lists has a plugin pod")

	// Breaking: a GPU node the plugin has no pod on.
	r = check.GPUCapacity(p, p.Shape, watched, ps, nil, nil, []string{"gpu-3", "gpu-4", "ip-10-0-1-5.ec2.internal"})
	assert.Equal(t, result.Failed, r.Status)
	assert.Contains(t, r.Message, "the NVIDIA device plugin does not run on every GPU node")
	assert.True(t, strings.Contains(strings.Join(r.Details, "\n"), "covers 2 of 3 GPU node(s), not gpu-4"), "%v", r.Details)
}
