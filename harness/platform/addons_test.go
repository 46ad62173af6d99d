package platform_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/deploy"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/platform"
)

// TestEKSAddonPodsTakeRoom: the add-ons terraform/ installs become workloads of the model (CoreDNS's two replicas
// on the system group, kube-proxy, aws-node and the EBS CSI node on every node as agents), so system-fit and
// consistency count the room EKS gives them; an add-on whose pods the harness does not know is an error naming
// the Terraform file and line.
func TestEKSAddonPodsTakeRoom(t *testing.T) {
	p, err := platform.Load("../..", "local")
	require.NoError(t, err)
	by := map[string]deploy.Workload{}
	for _, w := range p.Workloads {
		if platform.IsEKSAddon(w) {
			by[w.Name] = w
		}
	}
	require.Contains(t, by, "EKSAddon/kube-system/coredns")
	assert.Equal(t, 2, by["EKSAddon/kube-system/coredns"].Replicas)
	assert.False(t, platform.IsNodeAgent(by["EKSAddon/kube-system/coredns"]))
	for _, ds := range []string{"kube-proxy", "aws-node", "ebs-csi-node"} {
		w, ok := by["EKSAddon/kube-system/"+ds]
		require.True(t, ok, ds)
		assert.True(t, w.DaemonSet && platform.IsNodeAgent(w), ds)
	}
	assert.Contains(t, by, "EKSAddon/kube-system/ebs-csi-controller")

	dir := t.TempDir()
	for _, d := range []string{"terraform", "helm", "workflows"} {
		require.NoError(t, os.CopyFS(filepath.Join(dir, d), os.DirFS(filepath.Join("../..", d))))
	}
	f := filepath.Join(dir, "terraform/modules/eks/addons.tf")
	data, err := os.ReadFile(f)
	require.NoError(t, err)
	old := `toset(["coredns", "kube-proxy", "aws-ebs-csi-driver"])`
	require.Contains(t, string(data), old)
	require.NoError(t, os.WriteFile(f, []byte(strings.Replace(string(data), old, `toset(["coredns", "kube-proxy", "aws-ebs-csi-driver", "eks-pod-identity-agent"])`, 1)), 0o644))
	_, err = platform.Load(dir, "local")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `addons.tf:`)
	assert.Contains(t, err.Error(), `EKS add-on "eks-pod-identity-agent": the harness does not know the pods it runs`)
}
