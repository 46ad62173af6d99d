package platform

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/deploy"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/gpu"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/shape"
)

// Fit says whether a workload's pods may land on a group's nodes by taints and node selection, with the
// scheduler's own helpers, and why not.
func (p *Platform) Fit(w deploy.Workload, g shape.NodeGroup) (bool, string) {
	node := groupNode(p.Shape, g)
	taint, untolerated := corev1helpers.FindMatchingUntoleratedTaint(klog.Background(), node.Spec.Taints, w.Spec.Tolerations,
		func(t *corev1.Taint) bool {
			return t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute
		}, false)
	if untolerated {
		return false, fmt.Sprintf("does not tolerate taint %s=%s:%s of group %s", taint.Key, taint.Value, taint.Effect, g.Name)
	}
	pod := &corev1.Pod{Spec: w.Spec}
	ok, err := nodeaffinity.GetRequiredNodeAffinity(pod).Match(node)
	if err != nil {
		return false, fmt.Sprintf("node selection invalid: %v", err)
	}
	if !ok {
		return false, fmt.Sprintf("node selector %s does not match group %s (labels %s)", selectorString(w.Spec.NodeSelector), g.Name, selectorString(g.Labels))
	}
	return true, ""
}

// FitsGPUGroup reports whether the workload's taints and selectors admit it to some GPU group, so that a
// Pending pod can only be waiting for GPUs.
func (p *Platform) FitsGPUGroup(w deploy.Workload) bool {
	for _, g := range p.Shape.Groups {
		if ok, _ := p.Fit(w, g); ok && g.Instance.GPU() {
			return true
		}
	}
	return false
}

// IsDevicePlugin reports whether a workload is the NVIDIA device plugin, the one non-GPU workload that belongs
// on GPU nodes.
func IsDevicePlugin(w deploy.Workload) bool { return w.DaemonSet && gpu.IsDevicePlugin(w.Name) }

// groupNode is a node of group g as the shape builds it (a group of size 0 still has a node shape).
func groupNode(s *shape.Shape, g shape.NodeGroup) *corev1.Node {
	c := s.Clone()
	for i := range c.Groups {
		if c.Groups[i].Name == g.Name {
			c.Groups[i].DesiredSize = 1
		} else {
			c.Groups[i].DesiredSize = 0
		}
	}
	return c.Nodes()[0].Object()
}

func selectorString(m map[string]string) string {
	if len(m) == 0 {
		return "{}"
	}
	parts := make([]string, 0, len(m))
	for k, v := range m {
		parts = append(parts, k+"="+v)
	}
	sort.Strings(parts)
	return "{" + strings.Join(parts, ",") + "}"
}
