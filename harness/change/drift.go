package change

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/deploy"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/engine"
)

// Drift is what a change does to the nodes of one Karpenter NodePool, by Karpenter v1's drift rules
// (karpenter.sh/docs/concepts/disruption, "Drift"): a change of the NodePool's spec.template (labels, annotations,
// taints, nodeClassRef, expireAfter, …) or of the node class it references makes every node it launched Drifted,
// and Karpenter replaces them, as many at a time as the NodePool's disruption budgets allow; a change of
// spec.template.spec.requirements drifts only the nodes that no longer satisfy them; spec.limits, spec.weight
// and spec.disruption are behaviour, not drift.
type Drift struct {
	NodePool, App string
	// Template are the spec.template fields the change alters (requirements apart), NodeClass the node class
	// whose spec it alters: either drifts every node.
	Template  []string
	NodeClass string
	// NodeClassFields are the node class's hashed fields the change alters; Selectors its selector terms (subnets,
	// security groups, AMIs, reservations): those drift only the nodes whose resolved values change.
	NodeClassFields, Selectors []string
	// Requirements says spec.template.spec.requirements changed: nodes not satisfying the new ones drift.
	Requirements bool
	// Other are the other spec fields changed (no drift).
	Other []string
	// Nodes are the nodes the NodePool ran before the change; Budgets its disruption budgets ("nodes: 10%").
	Nodes   int
	Budgets []string
}

// Replaces says whether every node of the NodePool drifts.
func (d Drift) Replaces() bool { return len(d.Template) > 0 || d.NodeClass != "" }

// Drifts lists the NodePools of the change whose spec or node class the change alters (a NodePool the change adds
// or removes is in the objects' list, not here), with the nodes they ran before it.
func Drifts(base, head Manifests, before engine.State) []Drift {
	appOf := map[string]string{}
	find := func(m Manifests, kind string) map[string]deploy.Object {
		out := map[string]deploy.Object{}
		for app, objs := range m {
			for _, o := range objs {
				if o.GetKind() == kind && strings.HasPrefix(o.GetAPIVersion(), "karpenter.") {
					out[o.GetName()] = o
					appOf[kind+" "+o.GetName()] = app
				}
			}
		}
		return out
	}
	// An EC2NodeClass's spec is hashed for drift but for its selector terms, which drift only the nodes whose
	// resolved subnet, security group, AMI or reservation changes, and ipPrefixCount (aws/karpenter-provider-aws,
	// pkg/apis/v1/ec2nodeclass.go: hash:"ignore").
	classChanged, classSelectors := map[string][]string{}, map[string][]string{}
	bc, hc := find(base, "EC2NodeClass"), find(head, "EC2NodeClass")
	for n, h := range hc {
		b, ok := bc[n]
		if !ok {
			continue
		}
		bs, _, _ := unstructured.NestedMap(b.Object, "spec")
		hs, _, _ := unstructured.NestedMap(h.Object, "spec")
		for _, k := range keysOf(bs, hs) {
			switch {
			case reflect.DeepEqual(bs[k], hs[k]), k == "ipPrefixCount":
			case strings.HasSuffix(k, "SelectorTerms"):
				classSelectors[n] = append(classSelectors[n], "spec."+k)
			default:
				classChanged[n] = append(classChanged[n], "spec."+k)
			}
		}
	}
	var out []Drift
	bp, hp := find(base, "NodePool"), find(head, "NodePool")
	for _, n := range slices.Sorted(maps.Keys(hp)) {
		h := hp[n]
		b, ok := bp[n]
		if !ok {
			continue
		}
		d := Drift{NodePool: n, App: appOf["NodePool "+n], Nodes: before.KarpenterNodes[n], Budgets: budgets(h)}
		bt, _, _ := unstructured.NestedMap(b.Object, "spec", "template")
		ht, _, _ := unstructured.NestedMap(h.Object, "spec", "template")
		for _, k := range keysOf(bt, ht) {
			if k != "spec" && !reflect.DeepEqual(bt[k], ht[k]) {
				d.Template = append(d.Template, "spec.template."+k)
			}
		}
		bs, _, _ := unstructured.NestedMap(b.Object, "spec", "template", "spec")
		hs, _, _ := unstructured.NestedMap(h.Object, "spec", "template", "spec")
		for _, k := range keysOf(bs, hs) {
			switch {
			case reflect.DeepEqual(bs[k], hs[k]):
			case k == "requirements":
				d.Requirements = true
			case k == "resources": // not hashed (sigs.k8s.io/karpenter pkg/apis/v1/nodeclaim.go)
			default:
				d.Template = append(d.Template, "spec.template.spec."+k)
			}
		}
		ref, _, _ := unstructured.NestedString(h.Object, "spec", "template", "spec", "nodeClassRef", "name")
		if len(classChanged[ref]) > 0 {
			d.NodeClass = ref
			d.NodeClassFields = classChanged[ref]
		}
		if len(classSelectors[ref]) > 0 {
			d.Selectors = classSelectors[ref]
		}
		bsp, _, _ := unstructured.NestedMap(b.Object, "spec")
		hsp, _, _ := unstructured.NestedMap(h.Object, "spec")
		for _, k := range keysOf(bsp, hsp) {
			if k != "template" && !reflect.DeepEqual(bsp[k], hsp[k]) {
				d.Other = append(d.Other, "spec."+k)
			}
		}
		if d.Replaces() || d.Requirements || len(d.Selectors) > 0 || len(d.Other) > 0 {
			out = append(out, d)
		}
	}
	return out
}

// budgets are a NodePool's disruption budgets as written, or Karpenter's default (nodes: 10%).
func budgets(o deploy.Object) []string {
	bs, ok, _ := unstructured.NestedSlice(o.Object, "spec", "disruption", "budgets")
	if !ok || len(bs) == 0 {
		return []string{"nodes: 10% (Karpenter's default)"}
	}
	var out []string
	for _, b := range bs {
		m, _ := b.(map[string]any)
		s := fmt.Sprintf("nodes: %v", m["nodes"])
		if r, ok := m["reasons"]; ok {
			s += fmt.Sprintf(" for %v", r)
		}
		if sc, ok := m["schedule"]; ok {
			s += fmt.Sprintf(" at %v for %v", sc, m["duration"])
		}
		out = append(out, s)
	}
	return out
}

// Describe is the drift in a reviewer's words.
func (d Drift) Describe() string {
	var what []string
	switch {
	case d.Replaces():
		changed := append([]string(nil), d.Template...)
		if d.NodeClass != "" {
			changed = append(changed, fmt.Sprintf("its node class %s's %s", d.NodeClass, strings.Join(d.NodeClassFields, ", ")))
		}
		what = append(what, fmt.Sprintf("%s changed: every node it launched drifts and is replaced (%d now)", strings.Join(changed, ", "), d.Nodes))
	case d.Requirements || len(d.Selectors) > 0:
		var changed []string
		if d.Requirements {
			changed = append(changed, "spec.template.spec.requirements")
		}
		for _, s := range d.Selectors {
			changed = append(changed, "its node class's "+s)
		}
		what = append(what, fmt.Sprintf("%s changed: its nodes (%d now) that no longer match drift and are replaced", strings.Join(changed, ", "), d.Nodes))
	}
	if len(d.Other) > 0 {
		what = append(what, strings.Join(d.Other, ", ")+" changed (behaviour, no drift)")
	}
	return fmt.Sprintf("NodePool %s (%s): %s; disruption budgets %s", d.NodePool, d.App, strings.Join(what, "; "), strings.Join(d.Budgets, ", "))
}
