package shape

import (
	"fmt"
	"hash/fnv"
	"maps"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/gpu"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Labels EKS puts on managed nodes.
const (
	LabelNodeGroup    = "eks.amazonaws.com/nodegroup"
	LabelCapacityType = "eks.amazonaws.com/capacityType"
	LabelInstanceType = corev1.LabelInstanceTypeStable
	LabelRegion       = corev1.LabelTopologyRegion
	LabelZone         = corev1.LabelTopologyZone
	// AnnotationGPUModel records the GPU model on emulated GPU nodes.
	AnnotationGPUModel = "mlops.io/gpu-model"
)

// Node is one node the cluster should have.
type Node struct {
	Name         string
	Group        string
	Instance     InstanceType
	Labels       map[string]string
	Annotations  map[string]string
	Taints       []corev1.Taint
	Capacity     corev1.ResourceList
	Allocatable  corev1.ResourceList
	ProviderID   string
	CapacityType string
	// KubeletVersion is what the node reports, from the cluster version Terraform declares.
	KubeletVersion string
}

// Nodes lists desired_size nodes per group, in group order.
func (s *Shape) Nodes() []Node {
	var out []Node
	for _, g := range s.Groups {
		for i := 0; i < g.DesiredSize; i++ {
			out = append(out, s.node(g, i))
		}
	}
	return out
}

// GroupNode is the i-th node of the named group (used when a group grows or replaces a node).
func (s *Shape) GroupNode(group string, i int) (Node, bool) {
	g, ok := s.Group(group)
	if !ok {
		return Node{}, false
	}
	return s.node(*g, i), true
}

// NodeName is the name of the i-th node of a group.
func NodeName(group string, i int) string { return fmt.Sprintf("%s-%d", group, i) }

func (s *Shape) node(g NodeGroup, i int) Node {
	name := NodeName(g.Name, i)
	labels := map[string]string{
		LabelNodeGroup:                   g.Name,
		LabelCapacityType:                g.CapacityType,
		LabelInstanceType:                g.Instance.Name,
		LabelRegion:                      s.Region,
		LabelZone:                        s.Zone,
		corev1.LabelHostname:             name,
		corev1.LabelOSStable:             "linux",
		corev1.LabelArchStable:           "amd64",
		"eks.amazonaws.com/compute-type": "ec2",
	}
	maps.Copy(labels, g.Labels)
	ann := map[string]string{}
	if g.Instance.GPU() {
		ann[AnnotationGPUModel] = g.Instance.GPUModel
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "%s/%s/%s", s.ClusterName, g.Name, name)
	capacity, allocatable := Resources(g.Instance, g.DiskSizeGiB)
	return Node{
		Name: name, Group: g.Name, Instance: g.Instance, Labels: labels, Annotations: ann,
		Taints:   append([]corev1.Taint(nil), g.Taints...),
		Capacity: capacity, Allocatable: allocatable, CapacityType: g.CapacityType,
		ProviderID:     fmt.Sprintf("aws:///%s/i-%017x", s.Zone, h.Sum64()),
		KubeletVersion: "v" + s.KubernetesVersion + ".0",
	}
}

// DefaultDiskSizeGiB is an EKS managed node group's root volume when disk_size is not set.
const DefaultDiskSizeGiB = 20

// VMMemoryOverheadPercent is the share of an instance type's nominal memory the kubelet does not see as
// capacity (the hypervisor, firmware and kernel keep it): Karpenter's default `vmMemoryOverheadPercent` (0.075,
// karpenter.sh's settings reference), the figure Karpenter itself launches nodes by. Measured EKS nodes report
// 3-11% less than nominal (awslabs/amazon-eks-ami#387, aws/karpenter-provider-aws#1959).
const VMMemoryOverheadPercent = 0.075

// MemoryCapacityMiB is the memory capacity the kubelet reports for t: nominal less the VM's share.
func MemoryCapacityMiB(t InstanceType) int64 {
	return t.MemoryMiB - int64(float64(t.MemoryMiB)*VMMemoryOverheadPercent+0.5)
}

// Resources returns capacity and allocatable for an instance type with a root volume of diskGiB (0: EKS's
// default), as an EKS node of that type reports them. Memory capacity is nominal less the VM's share
// (MemoryCapacityMiB). Allocatable subtracts what the EKS AMI's bootstrap reserves (amazon-eks-ami: nodeadm's
// kubelet config, formerly bootstrap.sh): kube-reserved CPU (6% of the first core, 1% of the second, 0.5% of
// cores 3-4, 0.25% above), kube-reserved memory (255 MiB + 11 MiB per pod, max pods from the VPC CNI's
// eni-max-pods) and the 100 MiB hard eviction threshold (memory.available<100Mi); for ephemeral storage, 1 GiB
// kube-reserved and the 10% nodefs eviction threshold.
func Resources(t InstanceType, diskGiB int) (capacity, allocatable corev1.ResourceList) {
	if diskGiB <= 0 {
		diskGiB = DefaultDiskSizeGiB
	}
	disk := int64(diskGiB) << 30
	capacity = corev1.ResourceList{
		corev1.ResourceCPU:              *resource.NewMilliQuantity(int64(t.VCPU)*1000, resource.DecimalSI),
		corev1.ResourceMemory:           *resource.NewQuantity(MemoryCapacityMiB(t)<<20, resource.BinarySI),
		corev1.ResourcePods:             *resource.NewQuantity(int64(t.MaxPods), resource.DecimalSI),
		corev1.ResourceEphemeralStorage: *resource.NewQuantity(disk, resource.BinarySI),
	}
	if t.GPUs > 0 {
		capacity[gpu.Resource] = *resource.NewQuantity(int64(t.GPUs), resource.DecimalSI)
	}
	allocatable = capacity.DeepCopy()
	allocatable[corev1.ResourceCPU] = *resource.NewMilliQuantity(int64(t.VCPU)*1000-reservedMilliCPU(t.VCPU), resource.DecimalSI)
	reservedMiB := int64(255+11*t.MaxPods) + 100
	allocatable[corev1.ResourceMemory] = *resource.NewQuantity((MemoryCapacityMiB(t)-reservedMiB)<<20, resource.BinarySI)
	allocatable[corev1.ResourceEphemeralStorage] = *resource.NewQuantity(disk-disk/10-1<<30, resource.BinarySI)
	return capacity, allocatable
}

func reservedMilliCPU(cores int) int64 {
	var m float64
	for c := 1; c <= cores; c++ {
		switch {
		case c == 1:
			m += 60
		case c == 2:
			m += 10
		case c <= 4:
			m += 5
		default:
			m += 2.5
		}
	}
	return int64(m)
}

// Object is the Node object to create for this node; status carries capacity and allocatable.
func (n Node) Object() *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: n.Name, Labels: maps.Clone(n.Labels), Annotations: maps.Clone(n.Annotations)},
		Spec:       corev1.NodeSpec{ProviderID: n.ProviderID, Taints: append([]corev1.Taint(nil), n.Taints...)},
		Status: corev1.NodeStatus{
			Capacity:    n.Capacity.DeepCopy(),
			Allocatable: n.Allocatable.DeepCopy(),
			NodeInfo: corev1.NodeSystemInfo{Architecture: "amd64", OperatingSystem: "linux", KubeletVersion: n.KubeletVersion,
				OSImage: "Amazon Linux 2023", ContainerRuntimeVersion: "containerd://1.7"},
		},
	}
}

// HourlyUSD is the on-demand price of the nodes at desired size plus the EKS control plane and one NAT gateway.
func (s *Shape) HourlyUSD() float64 {
	total := EKSControlPlaneUSDPerHour + NATGatewayUSDPerHour
	for _, g := range s.Groups {
		total += float64(g.DesiredSize) * g.Instance.OnDemandUSDPerHour
	}
	return total
}
