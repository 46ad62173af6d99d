package platform

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	v1helper "k8s.io/kubernetes/pkg/apis/core/v1/helper"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/deploy"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/gpu"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/shape"
)

// Fit says whether a workload's pods may land on a group's nodes by taints and node selection, with the
// scheduler's own helpers, and why not.
func (p *Platform) Fit(w deploy.Workload, g shape.NodeGroup) (bool, string) {
	node := groupNode(p.Shape, g)
	if taint, untolerated := untoleratedTaint(w, node); untolerated {
		return false, fmt.Sprintf("does not tolerate taint %s=%s:%s of group %s", taint.Key, taint.Value, taint.Effect, g.Name)
	}
	pod := &corev1.Pod{Spec: w.Spec}
	ok, err := nodeaffinity.GetRequiredNodeAffinity(pod).Match(node)
	if err != nil {
		return false, fmt.Sprintf("node selection invalid: %v", err)
	}
	if !ok {
		return false, fmt.Sprintf("node selector %s%s does not match group %s (labels %s)", selectorString(w.Spec.NodeSelector), affinityString(w.Spec.Affinity), g.Name, selectorString(g.Labels))
	}
	return true, ""
}

// affinityString describes the required node affinity terms, ORed, for messages ("" when there are none).
func affinityString(a *corev1.Affinity) string {
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return ""
	}
	var terms []string
	for _, t := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		var exprs []string
		for _, e := range t.MatchExpressions {
			exprs = append(exprs, fmt.Sprintf("%s %s %v", e.Key, e.Operator, e.Values))
		}
		terms = append(terms, "("+strings.Join(exprs, " and ")+")")
	}
	return " and required node affinity " + strings.Join(terms, " or ")
}

// AdmittedTolerations are a pod's tolerations as EKS's API server admits it: the ExtendedResourceToleration
// admission plugin (on in EKS since 1.19) adds, for every extended resource a container requests, the toleration
// {key: <resource>, operator: Exists, effect: NoSchedule}. So a pod requesting nvidia.com/gpu tolerates a
// nvidia.com/gpu:NoSchedule taint without saying so.
func AdmittedTolerations(spec corev1.PodSpec) []corev1.Toleration {
	out := append([]corev1.Toleration(nil), spec.Tolerations...)
	seen := map[corev1.ResourceName]bool{}
	for _, cs := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for _, c := range cs {
			for _, l := range []corev1.ResourceList{c.Resources.Requests, c.Resources.Limits} {
				for name := range l {
					if seen[name] || !v1helper.IsExtendedResourceName(name) {
						continue
					}
					seen[name] = true
					out = append(out, corev1.Toleration{Key: string(name), Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule})
				}
			}
		}
	}
	return out
}

// ExplicitGPUToleration reports whether a workload tolerates the GPU taint by itself, without the toleration
// ExtendedResourceToleration adds.
func ExplicitGPUToleration(w deploy.Workload) bool {
	for _, t := range w.Spec.Tolerations {
		if (t.Key == gpu.TaintKey || (t.Key == "" && t.Operator == corev1.TolerationOpExists)) && (t.Effect == "" || t.Effect == corev1.TaintEffectNoSchedule) {
			return true
		}
	}
	return false
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
