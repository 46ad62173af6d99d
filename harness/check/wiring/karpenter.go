package wiring

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/controllers/karpenter"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/tfeval"
)

// DiscoveryTag is the tag Karpenter's EC2NodeClass selects subnets and security groups by.
const DiscoveryTag = "karpenter.sh/discovery"

// karpenterEvents are the EventBridge detail-types Karpenter's interruption controller handles.
var karpenterEvents = []string{"AWS Health Event", "EC2 Spot Instance Interruption Warning", "EC2 Instance Rebalance Recommendation", "EC2 Instance State-change Notification"}

// karpenterActions are controller permissions without which Karpenter cannot launch, pass the node role, find
// the API endpoint or read its queue (Karpenter v1's reference policy; a hand-written subset of it: nothing here
// runs IAM's policy evaluation).
var karpenterActions = []string{"ec2:CreateFleet", "ec2:RunInstances", "ec2:CreateLaunchTemplate", "ec2:TerminateInstances", "ec2:DescribeInstanceTypes", "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups", "ec2:DescribeImages", "ssm:GetParameter", "pricing:GetProducts", "iam:PassRole", "eks:DescribeCluster", "sqs:ReceiveMessage", "sqs:DeleteMessage"}

// karpenterWiring checks what connects Terraform's Karpenter (enable_karpenter: IAM, queue, rules, discovery tags),
// the bridge, the controller's Application values and the EC2NodeClasses: all on or all off, every name the
// GitOps side uses created by Terraform under that name, the node class selecting what Terraform tagged.
func karpenterWiring(in Input, tree *tfeval.Tree) result.Result {
	const name = "wiring/karpenter"
	p := in.Platform
	enabled := false
	if v, ok := p.Vars["enable_karpenter"]; ok && v.Type() == cty.Bool && v.IsKnown() && !v.IsNull() {
		enabled = v.True()
	}
	app := p.KarpenterApp()
	pools, classes := p.NodePools(), p.NodeClasses()
	tfvars := fmt.Sprintf("terraform/env/%s.tfvars", p.Env)
	values := fmt.Sprintf("helm/values/%s.yaml", p.Env)
	if !enabled && app == nil && len(pools) == 0 && len(classes) == 0 {
		return result.Pass(name, "Karpenter is off in %s: enable_karpenter false, no Karpenter Application, NodePool or EC2NodeClass", p.Env)
	}
	var v []string
	switch {
	case enabled && app == nil:
		v = append(v, fmt.Sprintf("%s: enable_karpenter = true, but no Karpenter Application is enabled (%s applications.karpenter.enabled): Terraform creates its role, queue and node role for a controller that never runs", tfvars, values))
	case !enabled && app != nil:
		v = append(v, fmt.Sprintf("%s: the Karpenter Application is enabled, but enable_karpenter is false (%s): the controller has no IAM role, interruption queue or node role, so it can launch nothing", values, tfvars))
	}
	switch {
	case app != nil && len(pools) == 0:
		v = append(v, fmt.Sprintf("%s: the Karpenter controller is enabled but the platform declares no NodePool (applications.karpenterNodePools): it launches nothing", values))
	case app == nil && len(pools) > 0:
		v = append(v, fmt.Sprintf("%s: NodePool %s is declared but the Karpenter controller is not enabled: nothing acts on it", pools[0].Object.Source, pools[0].Name))
	}
	leaves := p.Bridge.Leaves
	bridge := func(k string) string { return leaves[k] }
	if app != nil {
		if strings.TrimPrefix(app.TargetRevision, "v") != strings.TrimPrefix(karpenter.Version, "v") {
			v = append(v, fmt.Sprintf("%s: Application %s pins chart %s %s, but the harness runs and generates the NodePool/NodeClaim CRDs from Karpenter %s (tools/karpenter, tools/crdgen): pin %s or move the tools",
				p.ValueAt(app.Chart, []string{"targetRevision"}), app.Name, app.Chart, app.TargetRevision, karpenter.Version, strings.TrimPrefix(karpenter.Version, "v")))
		}
		for _, c := range []struct {
			path []string
			want string
			what string
		}{
			{[]string{"settings", "clusterName"}, bridge("clusterName"), "clusterName"},
			{[]string{"settings", "interruptionQueue"}, bridge("karpenter.interruptionQueue"), "karpenter.interruptionQueue"},
			{[]string{"serviceAccount", "annotations", RoleAnnotation}, bridge("karpenter.controllerRole"), "karpenter.controllerRole"},
		} {
			got, _, _ := unstructured.NestedString(app.Values, c.path...)
			if got != c.want || got == "" {
				v = append(v, fmt.Sprintf("%s: Application %s values %s = %q, want the GitOps Bridge's %s (%q)", p.ValueAt(app.Chart, c.path), app.Name, strings.Join(c.path, "."), got, c.what, c.want))
			}
		}
	}
	// Terraform creates every name the bridge publishes, and what Karpenter needs beside them.
	tf := karpenterTerraform(tree)
	v = append(v, tf.errs...)
	if enabled {
		role := bridge("karpenter.controllerRole")
		if rn := role[strings.LastIndex(role, "/")+1:]; !tf.roles[rn] {
			v = append(v, fmt.Sprintf("%s: the GitOps Bridge's karpenter.controllerRole %s names no IAM role Terraform creates", p.Bridge.Source, role))
		}
		if ip := bridge("karpenter.instanceProfile"); !tf.profiles[ip] {
			v = append(v, fmt.Sprintf("%s: the GitOps Bridge's karpenter.instanceProfile %q names no aws_iam_instance_profile Terraform creates", p.Bridge.Source, ip))
		}
		if q := bridge("karpenter.interruptionQueue"); !tf.queues[q] {
			v = append(v, fmt.Sprintf("%s: the GitOps Bridge's karpenter.interruptionQueue %q names no aws_sqs_queue Terraform creates", p.Bridge.Source, q))
		}
		for _, e := range karpenterEvents {
			if !tf.events[e] {
				v = append(v, fmt.Sprintf("terraform/: no aws_cloudwatch_event_rule matches %q: Karpenter never hears of it (interruption handling)", e))
			}
		}
		if !tf.ec2LinuxEntry {
			v = append(v, "terraform/: no aws_eks_access_entry of type EC2_LINUX: with authentication_mode API, nodes of Karpenter's node role cannot join")
		}
		rn := role[strings.LastIndex(role, "/")+1:]
		actions, passRoleTo, attached := controllerActions(tree, rn)
		if !attached {
			v = append(v, fmt.Sprintf("terraform/: no aws_iam_role_policy attaches a policy document to the controller role %s: Karpenter can do nothing", rn))
		}
		for _, a := range karpenterActions {
			if attached && !actions[a] {
				v = append(v, fmt.Sprintf("terraform/: the controller role %s's policy allows no %s: the Karpenter controller needs it (Karpenter v1's controller policy)", rn, a))
			}
		}
		if nodeRole := profileRole(tree, bridge("karpenter.instanceProfile")); attached && actions["iam:PassRole"] && nodeRole != "" && !passRoleTo[nodeRole] {
			v = append(v, fmt.Sprintf("terraform/: the controller role %s may pass no aws_iam_role.%s, the role of instance profile %s: its nodes cannot be launched", rn, nodeRole, bridge("karpenter.instanceProfile")))
		}
		d := bridge("karpenter.discovery")
		if in.KarpenterAWS {
			// The AWS provider resolves the selectors against what the emulated apply created: the karpenter step.
		} else if !tf.sgTags[d] {
			v = append(v, fmt.Sprintf("terraform/: no security group is tagged %s=%s (aws_ec2_tag on the cluster security group): Karpenter's nodes get no security group", DiscoveryTag, d))
		}
		zones := tf.subnetZones[d]
		switch {
		case in.KarpenterAWS:
		case len(zones) == 0:
			v = append(v, fmt.Sprintf("terraform/: no subnet is tagged %s=%s: Karpenter finds no subnet to launch into", DiscoveryTag, d))
		default:
			for _, z := range zones {
				if z == "" {
					z = "an unknown zone"
				}
				if z != p.Shape.Zone {
					v = append(v, fmt.Sprintf("terraform/: a subnet in %s is tagged %s=%s: Karpenter would launch nodes outside the node zone %s (single-AZ data plane)", z, DiscoveryTag, d, p.Shape.Zone))
				}
			}
		}
	}
	// The node classes select what Terraform tagged, with its instance profile; the NodePools name declared classes.
	declared := map[string]bool{}
	for _, c := range classes {
		declared[c.GetName()] = true
		if r, ok, _ := unstructured.NestedString(c.Object, "spec", "role"); ok {
			v = append(v, fmt.Sprintf("%s: EC2NodeClass %s sets role %q: Karpenter would create and manage instance profiles, which the controller policy Terraform grants does not allow; use instanceProfile (the GitOps Bridge's karpenter.instanceProfile) — a hand-written rule: moto lets the provider create a profile whatever the policy", c.Source, c.GetName(), r))
		}
		if ip, ok, _ := unstructured.NestedString(c.Object, "spec", "instanceProfile"); ok && ip != bridge("karpenter.instanceProfile") {
			v = append(v, fmt.Sprintf("%s: EC2NodeClass %s instanceProfile %q, want the GitOps Bridge's karpenter.instanceProfile (%q) — a hand-written rule: the provider makes no IAM call for a named profile, only the launch fails on AWS", c.Source, c.GetName(), ip, bridge("karpenter.instanceProfile")))
		}
		for _, field := range []string{"subnetSelectorTerms", "securityGroupSelectorTerms"} {
			if in.KarpenterAWS {
				break
			}
			terms, _, _ := unstructured.NestedSlice(c.Object, "spec", field)
			for i, t := range terms {
				m, _ := t.(map[string]any)
				tags, _ := m["tags"].(map[string]any)
				if tags == nil {
					continue // an id or name term: not Terraform's discovery
				}
				if got := fmt.Sprint(tags[DiscoveryTag]); got != bridge("karpenter.discovery") {
					v = append(v, fmt.Sprintf("%s: EC2NodeClass %s %s[%d] selects %s=%q, but Terraform tags %q (the GitOps Bridge's karpenter.discovery)", c.Source, c.GetName(), field, i, DiscoveryTag, got, bridge("karpenter.discovery")))
				}
			}
		}
		tags, _, _ := unstructured.NestedStringMap(c.Object, "spec", "tags")
		var missing []string
		for k := range leaves {
			if t, ok := strings.CutPrefix(k, "tags."); ok && t != "managed-by" && tags[t] != leaves[k] {
				missing = append(missing, t)
			}
		}
		if len(missing) > 0 {
			sort.Strings(missing)
			v = append(v, fmt.Sprintf("%s: EC2NodeClass %s does not tag its instances with the platform's %s (the GitOps Bridge's tags): cost allocation, the reaper and the leak scan miss them", c.Source, c.GetName(), strings.Join(missing, ", ")))
		}
	}
	for _, np := range pools {
		if np.NodeClassKind == "EC2NodeClass" && !declared[np.NodeClassName] && !in.KarpenterAWS {
			v = append(v, fmt.Sprintf("%s: NodePool %s refers to EC2NodeClass %s, which the platform does not declare", np.Object.Source, np.Name, np.NodeClassName))
		}
	}
	if in.KarpenterAWS {
		return verdict(name, v, nil, "Terraform (enable_karpenter), the Karpenter Application (chart %s) and %d NodePool(s) agree: controller role, instance profile, interruption queue with its %d EventBridge rules and the EC2_LINUX access entry exist under the names the bridge publishes; the EC2NodeClass names the bridge's instance profile and tags instances with the platform's tags; the policy attached to the controller role allows Karpenter's key actions and passes the instance profile's role (hand-written rules: moto evaluates no IAM policy and runs no EKS access entry). The discovery tags, the selectors, zone %s and the node classes are judged by the Karpenter AWS provider (the karpenter step)",
			karpenter.Version, len(pools), len(karpenterEvents), p.Shape.Zone)
	}
	return verdict(name, v, nil, "Terraform (enable_karpenter), the Karpenter Application (chart %s) and %d NodePool(s) agree: controller role, instance profile, interruption queue with its %d EventBridge rules and the EC2_LINUX access entry exist under the names the bridge publishes; the node subnet (zone %s) and the cluster security group carry %s=%s; the EC2NodeClass selects them with the bridge's instance profile and tags instances with the platform's tags; the policy attached to the controller role allows Karpenter's key actions and passes the instance profile's role (the action list hand-written from Karpenter v1's reference policy)",
		karpenter.Version, len(pools), len(karpenterEvents), p.Shape.Zone, DiscoveryTag, bridge("karpenter.discovery"))
}

// karpenterFacts is what Terraform creates for Karpenter, evaluated for the environment (count honoured).
type karpenterFacts struct {
	roles, profiles, queues, events, sgTags map[string]bool
	subnetZones                             map[string][]string
	ec2LinuxEntry                           bool
	errs                                    []string
}

func karpenterTerraform(tree *tfeval.Tree) karpenterFacts {
	f := karpenterFacts{roles: map[string]bool{}, profiles: map[string]bool{}, queues: map[string]bool{}, events: map[string]bool{},
		sgTags: map[string]bool{}, subnetZones: map[string][]string{}}
	names := func(typ string, into map[string]bool) {
		f.errs = append(f.errs, eachResource(tree, typ, func(m *tfeval.Module, b *hclsyntax.Block, inst instance) {
			if n, ok := evalString(m, b, "name", inst); ok {
				into[n] = true
			}
		})...)
	}
	names("aws_iam_role", f.roles)
	names("aws_iam_instance_profile", f.profiles)
	names("aws_sqs_queue", f.queues)
	f.errs = append(f.errs, eachResource(tree, "aws_cloudwatch_event_rule", func(m *tfeval.Module, b *hclsyntax.Block, inst instance) {
		pat, ok := evalString(m, b, "event_pattern", inst)
		if !ok {
			return
		}
		var ep struct {
			DetailType []string `json:"detail-type"`
		}
		if json.Unmarshal([]byte(pat), &ep) == nil {
			for _, d := range ep.DetailType {
				f.events[d] = true
			}
		}
	})...)
	f.errs = append(f.errs, eachResource(tree, "aws_eks_access_entry", func(m *tfeval.Module, b *hclsyntax.Block, inst instance) {
		if t, ok := evalString(m, b, "type", inst); ok && t == "EC2_LINUX" {
			f.ec2LinuxEntry = true
		}
	})...)
	f.errs = append(f.errs, eachResource(tree, "aws_ec2_tag", func(m *tfeval.Module, b *hclsyntax.Block, inst instance) {
		k, _ := evalString(m, b, "key", inst)
		val, ok := evalString(m, b, "value", inst)
		if k == DiscoveryTag && ok {
			f.sgTags[val] = true
		}
	})...)
	f.errs = append(f.errs, eachResource(tree, "aws_subnet", func(m *tfeval.Module, b *hclsyntax.Block, inst instance) {
		a, ok := b.Body.Attributes["tags"]
		if !ok {
			return
		}
		tags, err := m.Eval(a.Expr, inst.extra)
		if err != nil || !tags.IsWhollyKnown() || tags.IsNull() || !tags.CanIterateElements() {
			return
		}
		zone, _ := evalString(m, b, "availability_zone", inst)
		for it := tags.ElementIterator(); it.Next(); {
			k, val := it.Element()
			if k.AsString() == DiscoveryTag && val.Type() == cty.String {
				f.subnetZones[val.AsString()] = append(f.subnetZones[val.AsString()], zone)
			}
		}
	})...)
	return f
}

// controllerActions are the Allow actions of the inline policies (aws_iam_role_policy) attached to the IAM role
// named role, read from the aws_iam_policy_document each one's policy refers to; passRoleTo are the aws_iam_role
// resources iam:PassRole is granted on (by reference).
func controllerActions(tree *tfeval.Tree, role string) (actions map[string]bool, passRoleTo map[string]bool, attached bool) {
	actions, passRoleTo = map[string]bool{}, map[string]bool{}
	for _, m := range tree.All() {
		labels := map[string]bool{} // aws_iam_role resources of this module with that name
		for _, b := range m.Blocks {
			if b.Type == "resource" && len(b.Labels) == 2 && b.Labels[0] == "aws_iam_role" {
				insts, err := forEach(m, b)
				if err == nil && len(insts) > 0 {
					if n, ok := evalString(m, b, "name", insts[0]); ok && n == role {
						labels[b.Labels[1]] = true
					}
				}
			}
		}
		if len(labels) == 0 {
			continue
		}
		docs := map[string]*hclsyntax.Block{}
		for _, b := range m.Blocks {
			if b.Type == "data" && len(b.Labels) == 2 && b.Labels[0] == "aws_iam_policy_document" {
				docs[b.Labels[1]] = b
			}
		}
		for _, b := range m.Blocks {
			if b.Type != "resource" || len(b.Labels) != 2 || b.Labels[0] != "aws_iam_role_policy" {
				continue
			}
			if insts, err := forEach(m, b); err != nil || len(insts) == 0 {
				continue
			}
			ra, ok := b.Body.Attributes["role"]
			if !ok || !refersTo(ra.Expr, "aws_iam_role", labels) {
				continue
			}
			pa, ok := b.Body.Attributes["policy"]
			if !ok {
				continue
			}
			for _, tr := range pa.Expr.Variables() {
				if tr.RootName() != "data" || len(tr) < 3 {
					continue
				}
				typ, _ := tr[1].(hcl.TraverseAttr)
				name, _ := tr[2].(hcl.TraverseAttr)
				doc := docs[name.Name]
				if typ.Name != "aws_iam_policy_document" || doc == nil {
					continue
				}
				attached = true
				insts, err := forEach(m, doc)
				if err != nil || len(insts) == 0 {
					continue
				}
				for _, st := range doc.Body.Blocks {
					if st.Type != "statement" {
						continue
					}
					if eff, ok := st.Body.Attributes["effect"]; ok {
						if v, err := m.Eval(eff.Expr, insts[0].extra); err == nil && v.IsKnown() && v.Type() == cty.String && v.AsString() != "Allow" {
							continue
						}
					}
					a, ok := st.Body.Attributes["actions"]
					if !ok {
						continue
					}
					val, err := m.Eval(a.Expr, insts[0].extra)
					if err != nil || !val.IsWhollyKnown() || val.IsNull() || !val.CanIterateElements() {
						continue
					}
					for it := val.ElementIterator(); it.Next(); {
						_, e := it.Element()
						if e.Type() != cty.String {
							continue
						}
						actions[e.AsString()] = true
						if e.AsString() == "iam:PassRole" {
							if r, ok := st.Body.Attributes["resources"]; ok {
								for _, tr := range r.Expr.Variables() {
									if tr.RootName() == "aws_iam_role" && len(tr) > 1 {
										if n, ok := tr[1].(hcl.TraverseAttr); ok {
											passRoleTo[n.Name] = true
										}
									}
								}
							}
						}
					}
				}
			}
		}
	}
	return actions, passRoleTo, attached
}

// profileRole is the aws_iam_role resource (by name) the instance profile named profile holds, by reference.
func profileRole(tree *tfeval.Tree, profile string) string {
	out := ""
	eachResource(tree, "aws_iam_instance_profile", func(m *tfeval.Module, b *hclsyntax.Block, inst instance) {
		if n, ok := evalString(m, b, "name", inst); !ok || n != profile {
			return
		}
		if ra, ok := b.Body.Attributes["role"]; ok {
			for _, tr := range ra.Expr.Variables() {
				if tr.RootName() == "aws_iam_role" && len(tr) > 1 {
					if n, ok := tr[1].(hcl.TraverseAttr); ok {
						out = n.Name
					}
				}
			}
		}
	})
	return out
}

// refersTo reports whether the expression refers to a resource of typ with one of the labels.
func refersTo(e hclsyntax.Expression, typ string, labels map[string]bool) bool {
	for _, tr := range e.Variables() {
		if tr.RootName() == typ && len(tr) > 1 {
			if n, ok := tr[1].(hcl.TraverseAttr); ok && labels[n.Name] {
				return true
			}
		}
	}
	return false
}
