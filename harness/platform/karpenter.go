package platform

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/deploy"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/gpu"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/shape"
)

// KarpenterChart is the Karpenter controller's chart name.
const KarpenterChart = "karpenter"

// NodePool is one Karpenter NodePool the platform declares (karpenter.sh/v1), read from the rendered charts.
type NodePool struct {
	Name   string
	Object deploy.Object
	// Labels and Taints are what its nodes get (spec.template).
	Labels map[string]string
	Taints []corev1.Taint
	// Families, Sizes and Types are the instance families / sizes / types its requirements allow (empty: not
	// restricted); CapacityTypes the capacity types (karpenter.sh/capacity-type).
	Families, Sizes, Types, CapacityTypes []string
	// GPULimit is limits["nvidia.com/gpu"]; nil when the NodePool sets none.
	GPULimit *int64
	// NodeClassKind/NodeClassName are spec.template.spec.nodeClassRef's.
	NodeClassKind, NodeClassName string
	// ConsolidationPolicy and ConsolidateAfter are spec.disruption's; Budgets its budgets.
	ConsolidationPolicy, ConsolidateAfter string
	Budgets                               []Budget
}

// Budget is one disruption budget of a NodePool.
type Budget struct {
	Nodes    string
	Reasons  []string
	Schedule string
}

// GPU reports whether the NodePool can launch GPU instances: it limits nvidia.com/gpu, or a catalog type its
// requirements allow has GPUs (a NodePool without instance requirements allows every type, GPU ones included).
func (np NodePool) GPU() bool {
	if np.GPULimit != nil {
		return true
	}
	for _, t := range shape.InstanceTypes() {
		if np.Allows(t.Name) && t.GPU() {
			return true
		}
	}
	return false
}

// Allows reports whether the NodePool's family/type requirements allow the instance type.
func (np NodePool) Allows(instanceType string) bool {
	fam, size, _ := strings.Cut(instanceType, ".")
	if len(np.Families) > 0 && !contains(np.Families, fam) {
		return false
	}
	if len(np.Sizes) > 0 && !contains(np.Sizes, size) {
		return false
	}
	return len(np.Types) == 0 || contains(np.Types, instanceType)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// NodePools are the Karpenter NodePools among the platform's objects, by name.
func (p *Platform) NodePools() []NodePool {
	var out []NodePool
	for _, o := range p.Objects {
		if o.GetKind() != "NodePool" || !strings.HasPrefix(o.GetAPIVersion(), "karpenter.sh/") {
			// Any version of karpenter.sh counts (a v1beta1 NodePool is then refused by the API server's dry run
			// and the deploy; Karpenter v1 serves only v1).
			continue
		}
		out = append(out, readNodePool(o))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// NodeClasses are the Karpenter AWS provider's EC2NodeClasses among the platform's objects.
func (p *Platform) NodeClasses() []deploy.Object {
	var out []deploy.Object
	for _, o := range p.Objects {
		if o.GetKind() == "EC2NodeClass" && strings.HasPrefix(o.GetAPIVersion(), "karpenter.k8s.aws/") {
			out = append(out, o)
		}
	}
	return out
}

// KarpenterApp is the enabled Application installing the Karpenter controller's chart, or nil.
func (p *Platform) KarpenterApp() *deploy.App {
	for i, a := range p.Apps {
		if a.Chart == KarpenterChart {
			return &p.Apps[i]
		}
	}
	return nil
}

func readNodePool(o deploy.Object) NodePool {
	u := o.Unstructured
	np := NodePool{Name: o.GetName(), Object: o}
	np.Labels, _, _ = unstructured.NestedStringMap(u.Object, "spec", "template", "metadata", "labels")
	if taints, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "taints"); len(taints) > 0 {
		_ = deploy.Convert(taints, &np.Taints)
	}
	reqs, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "requirements")
	for _, r := range reqs {
		m, _ := r.(map[string]any)
		key, _ := m["key"].(string)
		op, _ := m["operator"].(string)
		if op != string(corev1.NodeSelectorOpIn) {
			continue
		}
		var vals []string
		for _, v := range asSlice(m["values"]) {
			if s, ok := v.(string); ok {
				vals = append(vals, s)
			}
		}
		switch key {
		case "karpenter.k8s.aws/instance-family", "karpenter.kwok.sh/instance-family":
			np.Families = vals
		case "karpenter.k8s.aws/instance-size", "karpenter.kwok.sh/instance-size":
			np.Sizes = vals
		case corev1.LabelInstanceTypeStable:
			np.Types = vals
		case "karpenter.sh/capacity-type":
			np.CapacityTypes = vals
		}
	}
	if v, ok, _ := unstructured.NestedFieldNoCopy(u.Object, "spec", "limits", string(gpu.Resource)); ok {
		if q, err := resource.ParseQuantity(fmt.Sprint(v)); err == nil {
			n := q.Value()
			np.GPULimit = &n
		}
	}
	np.NodeClassKind, _, _ = unstructured.NestedString(u.Object, "spec", "template", "spec", "nodeClassRef", "kind")
	np.NodeClassName, _, _ = unstructured.NestedString(u.Object, "spec", "template", "spec", "nodeClassRef", "name")
	np.ConsolidationPolicy, _, _ = unstructured.NestedString(u.Object, "spec", "disruption", "consolidationPolicy")
	np.ConsolidateAfter, _, _ = unstructured.NestedString(u.Object, "spec", "disruption", "consolidateAfter")
	budgets, _, _ := unstructured.NestedSlice(u.Object, "spec", "disruption", "budgets")
	for _, b := range budgets {
		m, _ := b.(map[string]any)
		bd := Budget{Nodes: fmt.Sprint(m["nodes"])}
		bd.Schedule, _ = m["schedule"].(string)
		for _, r := range asSlice(m["reasons"]) {
			if s, ok := r.(string); ok {
				bd.Reasons = append(bd.Reasons, s)
			}
		}
		np.Budgets = append(np.Budgets, bd)
	}
	return np
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

// InRepoCustomResources reports whether the platform's in-repo charts create custom resources (other than Argo
// CD's Applications): their CRDs must be served before those charts are installed.
func (p *Platform) InRepoCustomResources() bool {
	for _, o := range p.Objects {
		group, _, _ := strings.Cut(o.GetAPIVersion(), "/")
		if !strings.Contains(o.GetAPIVersion(), "/") || !strings.Contains(group, ".") || strings.HasSuffix(group, ".k8s.io") || group == "argoproj.io" {
			continue
		}
		if strings.HasPrefix(o.Source, "workflows/") {
			continue // the workflow manifests are created after the CRDs step has finished
		}
		return true
	}
	return false
}
