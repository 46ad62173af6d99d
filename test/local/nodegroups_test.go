package local

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cluster/existing"
)

// TestEKSNodeGroupScalerAgainstMoto: the existing backend's Scaler calls EKS's UpdateNodegroupConfig within the
// group's min/max (moto), waits for the group's nodes to be Ready in the cluster (nodes appear as EKS would add
// them), refuses a size outside min/max naming the bounds, and restores the size it found.
func TestEKSNodeGroupScalerAgainstMoto(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	m := startMoto(t, ctx)
	cfg, err := m.Config(ctx)
	require.NoError(t, err)
	ec := eks.NewFromConfig(cfg)
	_, err = ec.CreateCluster(ctx, &eks.CreateClusterInput{Name: aws.String("mlops-nightly"), RoleArn: aws.String("arn:aws:iam::123456789012:role/cluster"),
		ResourcesVpcConfig: &ekstypes.VpcConfigRequest{SubnetIds: []string{"subnet-1", "subnet-2"}}})
	require.NoError(t, err)
	_, err = ec.CreateNodegroup(ctx, &eks.CreateNodegroupInput{ClusterName: aws.String("mlops-nightly"), NodegroupName: aws.String("gpu"),
		NodeRole: aws.String("arn:aws:iam::123456789012:role/node"), Subnets: []string{"subnet-1"},
		ScalingConfig: &ekstypes.NodegroupScalingConfig{MinSize: aws.Int32(0), MaxSize: aws.Int32(3), DesiredSize: aws.Int32(1)}})
	require.NoError(t, err)

	kube := fake.NewClientset()
	addNode := func(i int) {
		_, err := kube.CoreV1().Nodes().Create(context.Background(), &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("ip-10-0-0-%d", i), Labels: map[string]string{existing.LabelNodegroup: "gpu"}},
			Status:     corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	addNode(0)
	ng := existing.NewNodeGroups(cfg, "mlops-nightly", kube)
	ng.Poll, ng.Timeout = 50*time.Millisecond, 10*time.Second
	go func() { // the node group's new instances join a little later
		time.Sleep(300 * time.Millisecond)
		addNode(1)
		addNode(2)
	}()
	require.NoError(t, ng.ScaleGroup(ctx, "gpu", 3))
	desired := func() int32 {
		out, err := ec.DescribeNodegroup(ctx, &eks.DescribeNodegroupInput{ClusterName: aws.String("mlops-nightly"), NodegroupName: aws.String("gpu")})
		require.NoError(t, err)
		return *out.Nodegroup.ScalingConfig.DesiredSize
	}
	assert.EqualValues(t, 3, desired())

	err = ng.ScaleGroup(ctx, "gpu", 4)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "size 4 outside min_size 0 .. max_size 3")

	ng.Timeout = 300 * time.Millisecond
	err = ng.ScaleGroup(ctx, "gpu", 2) // nodes never leave here: the wait names what it saw
	require.Error(t, err)
	assert.Contains(t, err.Error(), "want 2 Ready nodes")
	assert.Contains(t, err.Error(), "have 3 node(s), 3 Ready")

	require.NoError(t, ng.Restore(ctx))
	assert.EqualValues(t, 1, desired(), "restored to the size before the run")
}

// TestEKSGPUNodeGroupWaitsForTheDevicePlugin: scaling a g4dn group waits past node Ready until each node
// advertises its nvidia.com/gpu (the device plugin registers it later); a node that never does fails the wait
// naming the device plugin.
func TestEKSGPUNodeGroupWaitsForTheDevicePlugin(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	m := startMoto(t, ctx)
	cfg, err := m.Config(ctx)
	require.NoError(t, err)
	ec := eks.NewFromConfig(cfg)
	_, err = ec.CreateCluster(ctx, &eks.CreateClusterInput{Name: aws.String("mlops-nightly"), RoleArn: aws.String("arn:aws:iam::123456789012:role/cluster"),
		ResourcesVpcConfig: &ekstypes.VpcConfigRequest{SubnetIds: []string{"subnet-1", "subnet-2"}}})
	require.NoError(t, err)
	_, err = ec.CreateNodegroup(ctx, &eks.CreateNodegroupInput{ClusterName: aws.String("mlops-nightly"), NodegroupName: aws.String("gpu"),
		NodeRole: aws.String("arn:aws:iam::123456789012:role/node"), Subnets: []string{"subnet-1"}, InstanceTypes: []string{"g4dn.xlarge"},
		ScalingConfig: &ekstypes.NodegroupScalingConfig{MinSize: aws.Int32(0), MaxSize: aws.Int32(3), DesiredSize: aws.Int32(0)}})
	require.NoError(t, err)
	kube := fake.NewClientset()
	ready := corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}
	node, err := kube.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "ip-10-0-0-1",
		Labels: map[string]string{existing.LabelNodegroup: "gpu"}}, Status: ready}, metav1.CreateOptions{})
	require.NoError(t, err)

	ng := existing.NewNodeGroups(cfg, "mlops-nightly", kube)
	ng.Poll, ng.Timeout = 50*time.Millisecond, 400*time.Millisecond
	err = ng.ScaleGroup(ctx, "gpu", 1)
	require.Error(t, err, "Ready without nvidia.com/gpu is not enough")
	assert.Contains(t, err.Error(), "1 Ready, 0 advertising 1 nvidia.com/gpu")

	ng.Timeout = 10 * time.Second
	go func() { // the device plugin registers the GPU a little later
		time.Sleep(300 * time.Millisecond)
		n := node.DeepCopy()
		n.Status.Allocatable = corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("1")}
		_, err := kube.CoreV1().Nodes().UpdateStatus(context.Background(), n, metav1.UpdateOptions{})
		assert.NoError(t, err)
	}()
	start := time.Now()
	require.NoError(t, ng.ScaleGroup(ctx, "gpu", 1))
	assert.GreaterOrEqual(t, time.Since(start), 250*time.Millisecond, "waited for the device plugin")
}
