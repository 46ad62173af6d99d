package embedded

import (
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/gpu"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/shape"
)

// envPreAdvertisedGPUs tells the control-plane child that GPU nodes advertise their GPUs from the start.
const envPreAdvertisedGPUs = "EKS_MLOPS_HARNESS_PREADVERTISED_GPUS"

// envRestart tells the control-plane child it starts on an existing cluster's data (UpgradeControlPlane): the
// nodes are there already.
const envRestart = "EKS_MLOPS_HARNESS_RESTART"

// envControlPlaneVersion tells the control-plane child the minor to emulate when it is not the shape's.
const envControlPlaneVersion = "EKS_MLOPS_HARNESS_CONTROL_PLANE_VERSION"

// withoutGPUs returns the nodes as an EKS GPU node registers: the kubelet reports no nvidia.com/gpu until the
// NVIDIA device plugin runs on the node and registers it.
func withoutGPUs(nodes []shape.Node) []shape.Node {
	out := make([]shape.Node, len(nodes))
	for i, n := range nodes {
		n.Capacity, n.Allocatable = n.Capacity.DeepCopy(), n.Allocatable.DeepCopy()
		delete(n.Capacity, gpu.Resource)
		delete(n.Allocatable, gpu.Resource)
		out[i] = n
	}
	return out
}

// gpuAdvertiser plays the NVIDIA device plugin's part on the simulated kubelets (runAddons): a GPU node gets its
// instance type's nvidia.com/gpu capacity while a pod of a device plugin DaemonSet is Running on it, and loses it
// when none is. So a device plugin that never schedules means no GPU pod ever runs, as on EKS.
type gpuAdvertiser struct {
	cs    kubernetes.Interface
	pods  corelisters.PodLister
	nodes corelisters.NodeLister
}

// reconcile sets each GPU node's advertised GPUs from the pods and nodes in the informers' caches.
func (a *gpuAdvertiser) reconcile(ctx context.Context) error {
	pods, err := a.pods.List(labels.Everything())
	if err != nil {
		return err
	}
	plugin := map[string]bool{}
	for _, p := range pods {
		if p.Status.Phase != corev1.PodRunning || p.Spec.NodeName == "" || p.DeletionTimestamp != nil {
			continue
		}
		for _, o := range p.OwnerReferences {
			if o.Kind == "DaemonSet" && gpu.IsDevicePlugin(o.Name) {
				plugin[p.Spec.NodeName] = true
			}
		}
	}
	nodes, err := a.nodes.List(labels.Everything())
	if err != nil {
		return err
	}
	for _, n := range nodes {
		it, err := shape.Lookup(n.Labels[corev1.LabelInstanceTypeStable])
		if err != nil || !it.GPU() {
			continue
		}
		want := int64(0)
		if plugin[n.Name] {
			want = int64(it.GPUs)
		}
		q, has := n.Status.Allocatable[gpu.Resource]
		if (has && q.Value() == want) || (!has && want == 0) {
			continue
		}
		var v any // null removes the resource
		if want > 0 {
			v = fmt.Sprint(want)
		}
		patch, _ := json.Marshal(map[string]any{"status": map[string]any{
			"capacity":    map[string]any{string(gpu.Resource): v},
			"allocatable": map[string]any{string(gpu.Resource): v},
		}})
		if _, err := a.cs.CoreV1().Nodes().Patch(ctx, n.Name, types.MergePatchType, patch, metav1.PatchOptions{}, "status"); err != nil {
			return fmt.Errorf("node %s: %w", n.Name, err)
		}
	}
	return nil
}
