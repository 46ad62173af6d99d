package platform

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	resourcehelper "k8s.io/component-helpers/resource"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/deploy"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/gpu"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/shape"
)

// judged are the resources a pod's requests are compared with a node's allocatable on.
var judged = []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage, gpu.Resource}

// PodRequests are one pod's effective requests as the scheduler computes them (containers summed, init
// containers' maximum, sidecars, overhead; limits stand in for requests a container omits).
func PodRequests(w deploy.Workload) corev1.ResourceList {
	spec := *w.Spec.DeepCopy()
	for _, cs := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for i := range cs {
			r := &cs[i].Resources
			for name, q := range r.Limits {
				if _, ok := r.Requests[name]; !ok {
					if r.Requests == nil {
						r.Requests = corev1.ResourceList{}
					}
					r.Requests[name] = q
				}
			}
		}
	}
	return resourcehelper.PodRequests(&corev1.Pod{Spec: spec}, resourcehelper.PodResourcesOptions{})
}

// Room says whether one pod of w fits, by its requests, the allocatable of a node it may land on (taints and
// node selection as Fit judges them): a node of a node group, or of an instance type a Karpenter NodePool may
// launch. Allocatable is an EKS node's (shape.Resources: the VM's share, kube-reserved, eviction threshold). When
// it fits nowhere, why names the largest allocatable of each place it may land.
func (p *Platform) Room(w deploy.Workload) (fits bool, why string) {
	req := PodRequests(w)
	var places []string
	for _, g := range p.Shape.Groups {
		if ok, _ := p.Fit(w, g); !ok {
			continue
		}
		node := groupNode(p.Shape, g)
		if short := shortOf(req, node.Status.Allocatable); short == "" {
			return true, ""
		} else {
			places = append(places, fmt.Sprintf("node group %s (%s): %s", g.Name, g.Instance.Name, short))
		}
	}
	pools := p.poolNodes(w)
	names := make([]string, 0, len(pools))
	for name := range pools {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		var best string
		for _, node := range pools[name] {
			short := shortOf(req, node.Status.Allocatable)
			if short == "" {
				return true, ""
			}
			best = fmt.Sprintf("NodePool %s (largest allowed: %s): %s", name, node.Labels[corev1.LabelInstanceTypeStable], short)
		}
		places = append(places, best)
	}
	if len(places) == 0 {
		return true, "" // where it may land at all is Fit's verdict
	}
	return false, fmt.Sprintf("requests %s per pod, more than any node it may land on can allocate: %s", describe(req), strings.Join(places, "; "))
}

// instanceTypes are the catalog's types the NodePool's requirements allow, smallest memory first.
func (np NodePool) instanceTypes() []shape.InstanceType {
	var out []shape.InstanceType
	for _, t := range shape.InstanceTypes() {
		family, size, _ := strings.Cut(t.Name, ".")
		if (len(np.Families) > 0 && !contains(np.Families, family)) || (len(np.Sizes) > 0 && !contains(np.Sizes, size)) ||
			(len(np.Types) > 0 && !contains(np.Types, t.Name)) {
			continue
		}
		out = append(out, t)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].MemoryMiB < out[j].MemoryMiB })
	return out
}

// poolNode is a node the NodePool would launch with instance type t: its template's labels and taints, the
// well-known labels Karpenter sets, and t's EKS allocatable.
func poolNode(np NodePool, t shape.InstanceType) *corev1.Node {
	family, size, _ := strings.Cut(t.Name, ".")
	labels := map[string]string{
		corev1.LabelInstanceTypeStable: t.Name, corev1.LabelArchStable: "amd64", corev1.LabelOSStable: "linux",
		"karpenter.sh/nodepool": np.Name, "karpenter.k8s.aws/instance-family": family, "karpenter.k8s.aws/instance-size": size,
		"karpenter.sh/capacity-type": "on-demand",
	}
	for k, v := range np.Labels {
		labels[k] = v
	}
	capacity, alloc := shape.Resources(t, 0)
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: np.Name + "-" + t.Name, Labels: labels},
		Spec: corev1.NodeSpec{Taints: np.Taints}, Status: corev1.NodeStatus{Capacity: capacity, Allocatable: alloc}}
}

// untoleratedTaint is the first NoSchedule/NoExecute taint of node w's pods do not tolerate (as admitted on EKS),
// found with the scheduler's helper.
func untoleratedTaint(w deploy.Workload, node *corev1.Node) (corev1.Taint, bool) {
	return corev1helpers.FindMatchingUntoleratedTaint(klog.Background(), node.Spec.Taints, AdmittedTolerations(w.Spec),
		func(t *corev1.Taint) bool {
			return t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute
		}, false)
}

// poolNodes are, per NodePool whose taints w tolerates, the nodes of the instance types it may launch that w's
// node selection matches (smallest memory first).
func (p *Platform) poolNodes(w deploy.Workload) map[string][]*corev1.Node {
	out := map[string][]*corev1.Node{}
	for _, np := range p.NodePools() {
		for _, t := range np.instanceTypes() {
			node := poolNode(np, t)
			if _, untolerated := untoleratedTaint(w, node); untolerated {
				break // the NodePool's taints are the same for every type
			}
			if ok, err := nodeaffinity.GetRequiredNodeAffinity(&corev1.Pod{Spec: w.Spec}).Match(node); err == nil && ok {
				out[np.Name] = append(out[np.Name], node)
			}
		}
	}
	return out
}

// shortOf names the resources req asks more of than alloc has ("" when it fits).
func shortOf(req, alloc corev1.ResourceList) string {
	var out []string
	for _, name := range judged {
		want, ok := req[name]
		if !ok || want.IsZero() {
			continue
		}
		have := alloc[name]
		if want.Cmp(have) > 0 {
			out = append(out, fmt.Sprintf("%s %s allocatable", name, qty(name, have)))
		}
	}
	return strings.Join(out, ", ")
}

func describe(req corev1.ResourceList) string {
	var out []string
	for _, name := range judged {
		if q, ok := req[name]; ok && !q.IsZero() {
			out = append(out, fmt.Sprintf("%s %s", name, qty(name, q)))
		}
	}
	return strings.Join(out, ", ")
}

// qty prints memory and storage in Mi (readable next to each other), others as they are.
func qty(name corev1.ResourceName, q resource.Quantity) string {
	if name == corev1.ResourceMemory || name == corev1.ResourceEphemeralStorage {
		return fmt.Sprintf("%dMi", q.Value()>>20)
	}
	return q.String()
}

// FitsNodePool reports whether some NodePool may launch a node w's pods land on (its taints tolerated, its
// labels and an allowed instance type matching the pod's node selection).
func (p *Platform) FitsNodePool(w deploy.Workload) bool { return len(p.poolNodes(w)) > 0 }
