package existing

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/gpu"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/shape"
)

// LabelNodegroup is the label EKS puts on the nodes of a managed node group.
const LabelNodegroup = "eks.amazonaws.com/nodegroup"

// NodeGroups scales the managed node groups of a real EKS cluster, so that the steps that scale (gpu-capacity's
// GPU groups, scenarios) mean on EKS what they mean on the emulated cluster: UpdateNodegroupConfig within the
// group's min/max, then wait until the group's nodes are Ready in the cluster. Restore puts every group it
// changed back to its size before the run.
type NodeGroups struct {
	eks     *eks.Client
	ec2     *ec2.Client
	cluster string
	kube    kubernetes.Interface
	// Timeout bounds the wait for nodes (default 15 min: an EC2 instance joins in 2-4 min); Poll its interval.
	Timeout, Poll time.Duration

	mu       sync.Mutex
	original map[string]int32
}

// NewNodeGroups scales the node groups of the EKS cluster named cluster with cfg's credentials; kube is the
// cluster's API.
func NewNodeGroups(cfg aws.Config, cluster string, kube kubernetes.Interface) *NodeGroups {
	return &NodeGroups{eks: eks.NewFromConfig(cfg), ec2: ec2.NewFromConfig(cfg), cluster: cluster, kube: kube,
		Timeout: 15 * time.Minute, Poll: 10 * time.Second, original: map[string]int32{}}
}

// ScaleGroup sets the group's desired size (refused outside min/max, naming them) and waits until that many of
// its nodes are Ready.
func (n *NodeGroups) ScaleGroup(ctx context.Context, group string, size int) error {
	ng, err := n.eks.DescribeNodegroup(ctx, &eks.DescribeNodegroupInput{ClusterName: aws.String(n.cluster), NodegroupName: aws.String(group)})
	if err != nil {
		return fmt.Errorf("describe node group %s/%s: %w", n.cluster, group, err)
	}
	sc := ng.Nodegroup.ScalingConfig
	if sc == nil || sc.MinSize == nil || sc.MaxSize == nil || sc.DesiredSize == nil {
		return fmt.Errorf("node group %s/%s has no scaling config", n.cluster, group)
	}
	if int32(size) < *sc.MinSize || int32(size) > *sc.MaxSize {
		return fmt.Errorf("node group %s/%s: size %d outside min_size %d .. max_size %d", n.cluster, group, size, *sc.MinSize, *sc.MaxSize)
	}
	n.mu.Lock()
	if _, ok := n.original[group]; !ok {
		n.original[group] = *sc.DesiredSize
	}
	n.mu.Unlock()
	if *sc.DesiredSize != int32(size) {
		if err := n.update(ctx, group, int32(size), sc); err != nil {
			return err
		}
	}
	// A GPU node is of use only once the NVIDIA device plugin has pulled its image and registered nvidia.com/gpu
	// with the kubelet (30-90 s and more after Ready): the wait includes it.
	var gpus int64
	if len(ng.Nodegroup.InstanceTypes) > 0 {
		if t, err := shape.Lookup(ng.Nodegroup.InstanceTypes[0]); err == nil {
			gpus = int64(t.GPUs)
		}
	}
	return n.waitReady(ctx, group, size, gpus)
}

// update sets the desired size and waits until the node group is ACTIVE again (EKS refuses a second update
// while one is in progress).
func (n *NodeGroups) update(ctx context.Context, group string, size int32, sc *ekstypes.NodegroupScalingConfig) error {
	if _, err := n.eks.UpdateNodegroupConfig(ctx, &eks.UpdateNodegroupConfigInput{ClusterName: aws.String(n.cluster), NodegroupName: aws.String(group),
		ScalingConfig: &ekstypes.NodegroupScalingConfig{DesiredSize: aws.Int32(size), MinSize: sc.MinSize, MaxSize: sc.MaxSize}}); err != nil {
		return fmt.Errorf("scale node group %s/%s to %d: %w", n.cluster, group, size, err)
	}
	var status ekstypes.NodegroupStatus
	err := wait.PollUntilContextTimeout(ctx, n.Poll, n.Timeout, true, func(ctx context.Context) (bool, error) {
		out, err := n.eks.DescribeNodegroup(ctx, &eks.DescribeNodegroupInput{ClusterName: aws.String(n.cluster), NodegroupName: aws.String(group)})
		if err != nil {
			return false, nil
		}
		status = out.Nodegroup.Status
		return status == ekstypes.NodegroupStatusActive || status == ekstypes.NodegroupStatusDegraded, nil
	})
	if err != nil {
		return fmt.Errorf("node group %s/%s not ACTIVE after its update (status %s): %w", n.cluster, group, status, err)
	}
	return nil
}

// waitReady waits until exactly size nodes of the group exist and all are Ready (scale-in: until the removed
// ones are gone), and, for an instance type with gpus GPUs, each advertises them as allocatable nvidia.com/gpu.
func (n *NodeGroups) waitReady(ctx context.Context, group string, size int, gpus int64) error {
	var last string
	err := wait.PollUntilContextTimeout(ctx, n.Poll, n.Timeout, true, func(ctx context.Context) (bool, error) {
		nodes, err := n.kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: LabelNodegroup + "=" + group})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		ready, advertising := 0, 0
		for _, node := range nodes.Items {
			for _, c := range node.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					ready++
					if q, ok := node.Status.Allocatable[gpu.Resource]; gpus > 0 && ok && q.Value() >= gpus {
						advertising++
					}
				}
			}
		}
		last = fmt.Sprintf("%d node(s), %d Ready", len(nodes.Items), ready)
		if gpus > 0 {
			last += fmt.Sprintf(", %d advertising %d nvidia.com/gpu (the NVIDIA device plugin registers them after the node is Ready)", advertising, gpus)
			return len(nodes.Items) == size && advertising == size, nil
		}
		return len(nodes.Items) == size && ready == size, nil
	})
	if err != nil {
		return fmt.Errorf("node group %s: want %d Ready nodes within %s, have %s: %w", group, size, n.Timeout, last, err)
	}
	return nil
}

// RemoveNode terminates the node's EC2 instance (its providerID aws:///<zone>/<instance-id>), as losing it would;
// the managed node group replaces it.
func (n *NodeGroups) RemoveNode(ctx context.Context, name string) error {
	node, err := n.kube.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	id := node.Spec.ProviderID[strings.LastIndex(node.Spec.ProviderID, "/")+1:]
	if !strings.HasPrefix(node.Spec.ProviderID, "aws:///") || !strings.HasPrefix(id, "i-") {
		return fmt.Errorf("node %s: providerID %q is not an EC2 instance", name, node.Spec.ProviderID)
	}
	_, err = n.ec2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}})
	return err
}

// Restore scales every group ScaleGroup changed back to its size before the run (without waiting for nodes).
func (n *NodeGroups) Restore(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	var errs []error
	for group, size := range n.original {
		ng, err := n.eks.DescribeNodegroup(ctx, &eks.DescribeNodegroupInput{ClusterName: aws.String(n.cluster), NodegroupName: aws.String(group)})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		sc := ng.Nodegroup.ScalingConfig
		if sc != nil && sc.DesiredSize != nil && *sc.DesiredSize != size {
			if err := n.update(ctx, group, size, sc); err != nil {
				errs = append(errs, fmt.Errorf("restore node group %s to %d: %w", group, size, err))
				continue
			}
		}
		delete(n.original, group)
	}
	return errors.Join(errs...)
}

// Scaling is an existing cluster whose EKS node groups the harness may scale (cluster.Scaler). Its Shape follows
// the sizes it set.
type Scaling struct {
	*Cluster
	groups *NodeGroups
	mu     sync.Mutex
}

// WithNodeGroups makes c scale its node groups through groups.
func WithNodeGroups(c *Cluster, groups *NodeGroups) *Scaling {
	return &Scaling{Cluster: c, groups: groups}
}

// ScaleGroup scales the EKS node group and records the size in the cluster's shape.
func (s *Scaling) ScaleGroup(ctx context.Context, group string, size int) error {
	if err := s.groups.ScaleGroup(ctx, group, size); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if g, ok := s.cfg.Shape.Group(group); ok {
		g.DesiredSize = size
	}
	return nil
}

// Shape is the cluster's shape with the sizes ScaleGroup set.
func (s *Scaling) Shape() *shape.Shape {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Cluster.Shape()
}

// RemoveNode terminates the node's instance.
func (s *Scaling) RemoveNode(ctx context.Context, name string) error {
	return s.groups.RemoveNode(ctx, name)
}

// Stop restores the node groups' sizes.
func (s *Scaling) Stop(ctx context.Context) error { return s.groups.Restore(ctx) }
