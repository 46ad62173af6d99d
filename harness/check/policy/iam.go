package policy

import (
	"fmt"
	"strings"
	"time"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/shape"
)

// Hand-written: nothing here can run EKS's node bootstrap, so the managed policies EKS documents as required are
// read from the HCL (https://docs.aws.amazon.com/eks/latest/userguide/create-node-role.html).
var (
	// nodeRequired must be attached to the node role (one of each set).
	nodeRequired = [][]string{
		{"AmazonEKSWorkerNodePolicy"},
		{"AmazonEC2ContainerRegistryReadOnly", "AmazonEC2ContainerRegistryPullOnly"},
	}
	// cniPolicy lets aws-node manage ENIs: on the node role, or on the role of the vpc-cni add-on (IRSA/Pod
	// Identity).
	cniPolicy = "AmazonEKS_CNI_Policy"
)

// nodeIAM checks the node role of every managed node group and the VPC CNI's identity: without the CNI policy
// (on the node role or the vpc-cni add-on's role) aws-node cannot assign addresses, nodes stay NotReady and the
// node groups fail to create; an add-on created after the node groups comes too late for the same reason.
func nodeIAM(m *module, _ *shape.Shape, _ time.Time) []string {
	var v []string
	groups := m.resources("aws_eks_node_group")
	if len(groups) == 0 {
		return []string{m.dir + ": no aws_eks_node_group"}
	}
	attached := func(role string) map[string]string {
		out := map[string]string{}
		for _, a := range m.resources("aws_iam_role_policy_attachment") {
			if r, _ := a.attr("role"); !strings.HasPrefix(r, "aws_iam_role."+role+".") {
				continue
			}
			arn, _ := a.attr("policy_arn")
			fe, _ := a.attr("for_each")
			for _, name := range policyNames(arn, fe) {
				out[name] = at(a.DefRange())
			}
		}
		return out
	}
	cniOnNodes := false
	for _, g := range groups {
		roleRef, _ := g.attr("node_role_arn")
		role := roleName(roleRef)
		if role == "" {
			v = append(v, fmt.Sprintf("%s: aws_eks_node_group.%s: node_role_arn = %s is not an aws_iam_role of this configuration", at(g.DefRange()), g.Labels[1], orNone(roleRef)))
			continue
		}
		pols := attached(role)
		for _, set := range nodeRequired {
			ok := false
			for _, p := range set {
				_, has := pols[p]
				ok = ok || has
			}
			if !ok {
				v = append(v, fmt.Sprintf("%s: node role aws_iam_role.%s lacks %s (EKS requires it on every node role); attach it with aws_iam_role_policy_attachment", at(g.DefRange()), role, strings.Join(set, " or ")))
			}
		}
		if _, has := pols[cniPolicy]; has {
			cniOnNodes = true
		}
	}
	if cniOnNodes {
		return v
	}
	// The CNI policy must then come with the vpc-cni add-on's own role.
	var addon *block
	for _, a := range m.resources("aws_eks_addon") {
		name, _ := a.attr("addon_name")
		fe, _ := a.attr("for_each")
		if name == `"vpc-cni"` || (strings.Contains(fe, `"vpc-cni"`) && strings.Contains(name, "each")) {
			a := a
			addon = &a
		}
	}
	if addon == nil {
		return append(v, fmt.Sprintf("%s: neither the node role has %s nor is there a vpc-cni add-on with its own role: aws-node cannot manage ENIs, nodes stay NotReady; attach %s to the node role or give aws_eks_addon vpc-cni a service_account_role_arn", at(groups[0].DefRange()), cniPolicy, cniPolicy))
	}
	roleRef, _ := addon.attr("service_account_role_arn")
	role := roleName(roleRef)
	if role == "" || strings.Contains(roleRef, "?") {
		return append(v, fmt.Sprintf("%s: the vpc-cni add-on has no role of its own (service_account_role_arn = %s) and the node role lacks %s: aws-node cannot manage ENIs; give vpc-cni an IRSA role with %s", at(addon.DefRange()), orNone(roleRef), cniPolicy, cniPolicy))
	}
	if _, has := attached(role)[cniPolicy]; !has {
		v = append(v, fmt.Sprintf("%s: the vpc-cni add-on's role aws_iam_role.%s lacks %s", at(addon.DefRange()), role, cniPolicy))
	}
	if deps, _ := addon.attr("depends_on"); strings.Contains(deps, "aws_eks_node_group.") {
		v = append(v, fmt.Sprintf("%s: the vpc-cni add-on waits for the node groups, but nodes become Ready only once it runs with its role: create it before them (drop the depends_on, and make the node groups depend on it)", at(addon.DefRange())))
	}
	return v
}

// roleName is the resource name of `aws_iam_role.NAME.arn`, or "".
func roleName(ref string) string {
	ref = strings.TrimSpace(ref)
	if !strings.HasPrefix(ref, "aws_iam_role.") {
		return ""
	}
	parts := strings.Split(ref, ".")
	if len(parts) < 3 {
		return ""
	}
	return strings.SplitN(parts[1], "[", 2)[0]
}

// policyNames reads the AWS managed policy names an attachment attaches: a literal ARN (".../policy/NAME" or
// ".../policy/service-role/NAME"), or each.value over a for_each of literal names.
func policyNames(arn, forEach string) []string {
	last := arn[strings.LastIndex(arn, "/")+1:]
	last = strings.Trim(last, `"`)
	if strings.Contains(last, "each.value") {
		var out []string
		for _, f := range strings.Split(forEach, `"`) {
			if f != "" && !strings.ContainsAny(f, "[](), ") {
				out = append(out, f)
			}
		}
		return out
	}
	return []string{strings.TrimSuffix(last, "}")}
}
