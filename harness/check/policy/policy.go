package policy

import (
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
	"sigs.k8s.io/yaml"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/gpu"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/platform"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/shape"
)

// Finding is the outcome of one policy: what it checked and every violation, each starting with file:line.
type Finding struct {
	Policy     string
	Checked    string
	Violations []string
}

// policy inspects the Terraform (and the environment's shape) and returns violations.
type policy struct {
	name, checked string
	run           func(m *module, s *shape.Shape, now time.Time) []string
}

var policies = []policy{
	{"single-az", "node groups in one zone, cluster subnets in two", singleAZ},
	{"gpu-node-group", "GPU groups tainted nvidia.com/gpu:NoSchedule, labelled nvidia.com/gpu.present=true for the device plugin, on-demand, NVIDIA AMI and instance type, able to scale to zero", gpuGroup},
	{"imdsv2", "every launch template requires IMDSv2 tokens", imdsv2},
	{"encryption", "EBS volumes, S3 buckets, RDS storage and Kubernetes secrets encrypted", encryption},
	{"s3-public-access", "every bucket has a public access block with all four settings true", s3PublicAccess},
	{"tags", "every taggable resource carries tags, and the tags hold project, environment, owner, cost-center", tags},
	{"cluster-version", "cluster version inside EKS standard support (terraform's own calendar, local.eks_standard_support_ends), the variable's validation refusing every version outside it, upgrade_policy STANDARD", clusterVersion},
	{"node-iam", "node roles carry the managed policies EKS requires, and the VPC CNI has AmazonEKS_CNI_Policy (node role, or its add-on's own role created before the nodes); a hand-written rule from AWS's documentation: nothing here runs EKS's node bootstrap", nodeIAM},
	{"network-policy", "the VPC CNI add-on enforces the NetworkPolicies the platform's charts ship (configuration_values enableNetworkPolicy \"true\"; EKS leaves its network policy agent off otherwise)", networkPolicy},
	{"fmt", "every .tf and .tfvars file formatted as terraform fmt would", formatted},
	{"variables", "every variable's validations hold for the environment's values (tfvars over defaults), as terraform plan checks first", variableValidations},
}

// Policies runs every static policy over the platform model's Terraform sources and shape (the applied one,
// when the run applied). It needs no provider and reads no file.
func Policies(p *platform.Platform, now time.Time) ([]Finding, error) {
	m, err := readTerraform(p.Terraform)
	if err != nil {
		return nil, err
	}
	m.vars = p.Vars
	for _, o := range p.Objects {
		if o.GetKind() == "NetworkPolicy" {
			m.networkPolicies = append(m.networkPolicies, o.GetNamespace()+"/"+o.GetName())
		}
	}
	s := p.Shape
	out := make([]Finding, 0, len(policies))
	for _, p := range policies {
		out = append(out, Finding{Policy: p.name, Checked: p.checked, Violations: p.run(m, s, now)})
	}
	return out, nil
}

func singleAZ(m *module, _ *shape.Shape, _ time.Time) []string {
	eks, ok := m.find("module", "eks")
	if !ok {
		return []string{m.dir + `: no module "eks"`}
	}
	var v []string
	nodes, a := eks.attr("node_subnet_ids")
	if a == nil {
		v = append(v, at(eks.DefRange())+": module eks sets no node_subnet_ids")
	} else if !regexp.MustCompile(`^\[[^,\]]+\[0\]\s*\]$`).MatchString(strings.TrimSpace(nodes)) {
		v = append(v, fmt.Sprintf("%s: node_subnet_ids = %s: node groups must use one subnet (one zone), e.g. [module.vpc.private_subnet_ids[0]]", at(a.SrcRange), nodes))
	}
	cp, a := eks.attr("control_plane_subnet_ids")
	if a == nil || strings.Contains(cp, "[0]") {
		v = append(v, fmt.Sprintf("%s: control_plane_subnet_ids must hold the subnets of both zones (EKS requires two)", at(eks.DefRange())))
	}
	if vpcAZ, ok := m.find("variable", "availability_zones"); ok {
		if cond := vpcAZ.nested("validation"); len(cond) == 0 {
			v = append(v, at(vpcAZ.DefRange())+": availability_zones has no validation of its two zones")
		}
	}
	return v
}

func gpuGroup(m *module, s *shape.Shape, _ time.Time) []string {
	var v []string
	gpus := 0
	for _, g := range s.Groups {
		if !g.Instance.GPU() {
			continue
		}
		gpus++
		where := fmt.Sprintf("%s: node_groups.%s", at(g.Source), g.Name)
		tainted := false
		for _, t := range g.Taints {
			tainted = tainted || (t.Key == gpu.TaintKey && t.Effect == "NoSchedule")
		}
		if !tainted {
			v = append(v, where+": GPU group lacks the taint nvidia.com/gpu:NoSchedule")
		}
		if g.CapacityType != "ON_DEMAND" {
			v = append(v, fmt.Sprintf("%s: capacity_type %s, want ON_DEMAND", where, g.CapacityType))
		}
		if !strings.Contains(g.AMIType, "NVIDIA") {
			v = append(v, fmt.Sprintf("%s: ami_type %s is not an EKS NVIDIA AMI", where, g.AMIType))
		}
		if g.Labels[gpu.PresentLabel] != "true" {
			v = append(v, fmt.Sprintf("%s: GPU group lacks the label %s=true, which the NVIDIA device plugin's DaemonSet requires (its default node affinity): no node would advertise nvidia.com/gpu", where, gpu.PresentLabel))
		}
		if g.MinSize != 0 {
			v = append(v, fmt.Sprintf("%s: min_size %d, want 0 so the group can scale to zero", where, g.MinSize))
		}
		for _, t := range g.InstanceTypes {
			if it, err := shape.Lookup(t); err == nil && !it.GPU() {
				v = append(v, fmt.Sprintf("%s: instance type %s in a GPU group has no NVIDIA GPU", where, t))
			}
		}
	}
	if gpus == 0 {
		v = append(v, "no node group with an NVIDIA GPU instance type")
	}
	for _, g := range s.Groups {
		for _, t := range g.Taints {
			if t.Key == gpu.TaintKey && !g.Instance.GPU() {
				v = append(v, fmt.Sprintf("%s: node_groups.%s carries the GPU taint but has no GPU", at(g.Source), g.Name))
			}
		}
	}
	return v
}

func imdsv2(m *module, _ *shape.Shape, _ time.Time) []string {
	var v []string
	lts := m.resources("aws_launch_template")
	if len(lts) == 0 {
		return []string{m.dir + ": no aws_launch_template: node groups would get the default (IMDSv1 allowed)"}
	}
	for _, lt := range lts {
		mo := lt.nested("metadata_options")
		if len(mo) == 0 {
			v = append(v, at(lt.DefRange())+": launch template without metadata_options")
			continue
		}
		if msg, ok := expectAttr(mo[0], "http_tokens", `"required"`); !ok {
			v = append(v, msg+" (IMDSv2)")
		}
	}
	return v
}

func encryption(m *module, _ *shape.Shape, _ time.Time) []string {
	var v []string
	for _, lt := range m.resources("aws_launch_template") {
		for _, bdm := range lt.nested("block_device_mappings") {
			for _, ebs := range bdm.nested("ebs") {
				if msg, ok := expectAttr(ebs, "encrypted", "true"); !ok {
					v = append(v, msg+" (EBS)")
				}
			}
		}
	}
	buckets := m.resources("aws_s3_bucket")
	sse := m.resources("aws_s3_bucket_server_side_encryption_configuration")
	for _, b := range buckets {
		if !referenced(sse, "bucket", "aws_s3_bucket."+b.Labels[1]+".") {
			v = append(v, fmt.Sprintf("%s: bucket %s has no aws_s3_bucket_server_side_encryption_configuration", at(b.DefRange()), b.Labels[1]))
		}
	}
	for _, c := range m.resources("aws_eks_cluster") {
		ok := false
		for _, ec := range c.nested("encryption_config") {
			res, _ := ec.attr("resources")
			ok = ok || strings.Contains(res, `"secrets"`)
		}
		if !ok {
			v = append(v, at(c.DefRange())+": EKS cluster without encryption_config for secrets")
		}
	}
	for _, db := range m.resources("aws_db_instance") {
		if msg, ok := expectAttr(db, "storage_encrypted", "true"); !ok {
			v = append(v, msg)
		}
	}
	return v
}

func s3PublicAccess(m *module, _ *shape.Shape, _ time.Time) []string {
	var v []string
	pabs := m.resources("aws_s3_bucket_public_access_block")
	for _, b := range m.resources("aws_s3_bucket") {
		var pab *block
		for i := range pabs {
			if src, _ := pabs[i].attr("bucket"); strings.HasPrefix(src, "aws_s3_bucket."+b.Labels[1]+".") {
				pab = &pabs[i]
			}
		}
		if pab == nil {
			v = append(v, fmt.Sprintf("%s: bucket %s has no aws_s3_bucket_public_access_block", at(b.DefRange()), b.Labels[1]))
			continue
		}
		for _, k := range []string{"block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"} {
			if msg, ok := expectAttr(*pab, k, "true"); !ok {
				v = append(v, msg)
			}
		}
	}
	return v
}

// taggable lists the resource types the platform uses that accept tags.
var taggable = map[string]bool{
	"aws_vpc": true, "aws_subnet": true, "aws_internet_gateway": true, "aws_eip": true, "aws_nat_gateway": true,
	"aws_route_table": true, "aws_vpc_endpoint": true, "aws_eks_cluster": true, "aws_eks_node_group": true,
	"aws_launch_template": true, "aws_iam_role": true, "aws_kms_key": true, "aws_s3_bucket": true,
	"aws_db_instance": true, "aws_db_subnet_group": true, "aws_security_group": true,
	"aws_iam_openid_connect_provider": true, "aws_eks_addon": true, "aws_eks_access_entry": true,
	"aws_default_security_group": true,
}

func tags(m *module, _ *shape.Shape, _ time.Time) []string {
	var v []string
	for _, b := range m.blocks {
		if b.Type == "resource" && taggable[b.Labels[0]] {
			if _, a := b.attr("tags"); a == nil {
				v = append(v, fmt.Sprintf("%s: %s.%s has no tags", at(b.DefRange()), b.Labels[0], b.Labels[1]))
			}
		}
	}
	keys, where, err := localTagKeys(m)
	if err != nil {
		return append(v, err.Error())
	}
	for _, k := range []string{"project", "environment", "owner", "cost-center"} {
		if !keys[k] {
			v = append(v, fmt.Sprintf("%s: local.tags lacks the required tag %q", where, k))
		}
	}
	return v
}

func formatted(m *module, _ *shape.Shape, _ time.Time) []string {
	var v []string
	if len(m.files) == 0 {
		return []string{m.dir + ": no .tf files"}
	}
	for _, f := range m.files {
		if string(hclwrite.Format(f.Data)) != string(f.Data) {
			v = append(v, f.Path+":1: not formatted (terraform fmt)")
		}
	}
	return v
}

// expectAttr returns a violation at the attribute (or the block, when unset) unless it is written as want.
func expectAttr(b block, name, want string) (string, bool) {
	got, a := b.attr(name)
	if got == want {
		return "", true
	}
	r := b.DefRange()
	if a != nil {
		r = a.SrcRange
	}
	return fmt.Sprintf("%s: %s = %s, want %s", at(r), name, orNone(got), want), false
}

func referenced(bs []block, attr, prefix string) bool {
	for _, b := range bs {
		if src, _ := b.attr(attr); strings.HasPrefix(src, prefix) {
			return true
		}
	}
	return false
}

func orNone(s string) string {
	if s == "" {
		return "(unset)"
	}
	return s
}

// localTagKeys reads the keys of local.tags from its HCL syntax: an object constructor, or merge() of object
// constructors (keys written bare or as string literals). Anything else — a key computed at plan time, a function
// other than merge — is an error at its position: the policy cannot tell what the tags hold.
func localTagKeys(m *module) (map[string]bool, string, error) {
	var attr *hclsyntax.Attribute
	for _, b := range m.blocks {
		if b.Type != "locals" || filepath.Dir(b.DefRange().Filename) != filepath.Clean(m.dir) {
			continue
		}
		if a, ok := b.Body.Attributes["tags"]; ok {
			attr = a
		}
	}
	if attr == nil {
		return nil, "", fmt.Errorf("%s: no local.tags in the root module (every resource's tags come from it)", m.dir)
	}
	keys := map[string]bool{}
	var walk func(e hclsyntax.Expression) error
	walk = func(e hclsyntax.Expression) error {
		switch x := e.(type) {
		case *hclsyntax.ObjectConsExpr:
			for _, item := range x.Items {
				if k := hcl.ExprAsKeyword(item.KeyExpr); k != "" {
					keys[k] = true
					continue
				}
				v, diags := item.KeyExpr.Value(nil)
				if diags.HasErrors() || v.IsNull() || !v.IsKnown() || v.Type().FriendlyName() != "string" {
					return fmt.Errorf("%s: local.tags key is not a literal", at(item.KeyExpr.Range()))
				}
				keys[v.AsString()] = true
			}
			return nil
		case *hclsyntax.FunctionCallExpr:
			if x.Name != "merge" {
				return fmt.Errorf("%s: local.tags uses %s(); only merge() of object literals can be read", at(x.Range()), x.Name)
			}
			for _, a := range x.Args {
				if err := walk(a); err != nil {
					return err
				}
			}
			return nil
		case *hclsyntax.ConditionalExpr:
			// Tags present only under a condition (expires-at for test runs) are extras, never required ones.
			return nil
		case *hclsyntax.ScopeTraversalExpr:
			// var.tags and the like: extra tags a caller may add; the required ones must be literal keys.
			return nil
		case *hclsyntax.ParenthesesExpr:
			return walk(x.Expression)
		}
		return fmt.Errorf("%s: local.tags is not an object literal or merge() of them", at(e.Range()))
	}
	if err := walk(attr.Expr); err != nil {
		return nil, "", err
	}
	return keys, at(attr.SrcRange), nil
}

// enablesNetworkPolicy matches the VPC CNI add-on's setting in configuration_values' source text, as
// jsonencode({...}) or a JSON string writes it: the judge where the expression refers to something (a variable, a
// local) and cannot be evaluated on its own.
var enablesNetworkPolicy = regexp.MustCompile(`"?enableNetworkPolicy"?\s*[=:]\s*"true"`)

// networkPolicy: NetworkPolicies the platform ships are only objects in the API unless the VPC CNI's network
// policy agent enforces them; the managed add-on runs it only when configured (EKS user guide, "Limit pod traffic
// with Kubernetes network policies"). A cluster whose CNI is not the managed add-on is not judged here.
func networkPolicy(m *module, _ *shape.Shape, _ time.Time) []string {
	if len(m.networkPolicies) == 0 {
		return nil
	}
	var v []string
	for _, a := range m.resources("aws_eks_addon") {
		if name, _ := a.attr("addon_name"); name != `"vpc-cni"` {
			continue
		}
		cv, attr := a.attr("configuration_values")
		if why := cniNetworkPolicy(cv, attr); why != "" {
			v = append(v, fmt.Sprintf("%s: %s: the platform's %d NetworkPolicies (%s, ...) would not be enforced", at(a.DefRange()), why, len(m.networkPolicies), m.networkPolicies[0]))
		}
	}
	return v
}

// cniNetworkPolicy says what is wrong with the vpc-cni add-on's configuration_values for the network policy agent
// ("" when it is on). The value is evaluated as Terraform would (jsonencode of an object, or a JSON string) where it
// refers to nothing else, and decoded as EKS decodes it (JSON or YAML): its top-level enableNetworkPolicy must be the
// string "true" — the add-on's configuration schema declares a string (format boolean), so CreateAddon refuses the
// JSON boolean true, and a key nested under another object is not the setting (EKS rejects the unknown key).
func cniNetworkPolicy(src string, attr *hclsyntax.Attribute) string {
	const unset = `the vpc-cni add-on does not set enableNetworkPolicy "true" in configuration_values`
	if attr == nil {
		return unset
	}
	if len(attr.Expr.Variables()) > 0 {
		if !enablesNetworkPolicy.MatchString(src) {
			return unset
		}
		return ""
	}
	val, diags := attr.Expr.Value(&hcl.EvalContext{Functions: map[string]function.Function{"jsonencode": stdlib.JSONEncodeFunc}})
	if diags.HasErrors() || !val.IsWhollyKnown() || val.IsNull() || val.Type() != cty.String {
		if !enablesNetworkPolicy.MatchString(src) {
			return unset
		}
		return ""
	}
	var cfg map[string]any // EKS takes the configuration as JSON or YAML
	if err := yaml.Unmarshal([]byte(val.AsString()), &cfg); err != nil {
		return fmt.Sprintf("the vpc-cni add-on's configuration_values is neither a JSON nor a YAML object (%v): EKS refuses it", err)
	}
	switch on := cfg["enableNetworkPolicy"].(type) {
	case string:
		if on == "true" {
			return ""
		}
		return fmt.Sprintf(`the vpc-cni add-on sets enableNetworkPolicy %q, not "true"`, on)
	case bool:
		return fmt.Sprintf(`the vpc-cni add-on sets enableNetworkPolicy to the boolean %t: the add-on's configuration schema wants the string "true" (CreateAddon refuses the boolean, and the node groups that depend on the add-on are never created)`, on)
	case nil:
		if path := nestedKey(cfg, "enableNetworkPolicy", ""); path != "" {
			return fmt.Sprintf(`the vpc-cni add-on's enableNetworkPolicy is nested at %s: the add-on reads it at the top level of configuration_values (EKS refuses the unknown key %q)`, path, strings.SplitN(path, ".", 2)[0])
		}
		return unset
	default:
		return fmt.Sprintf(`the vpc-cni add-on sets enableNetworkPolicy to %v, not the string "true"`, on)
	}
}

// nestedKey is the dotted path under which key first occurs below the top level of v ("" if nowhere).
func nestedKey(v map[string]any, key, prefix string) string {
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		sub, ok := v[k].(map[string]any)
		if !ok {
			continue
		}
		path := k
		if prefix != "" {
			path = prefix + "." + k
		}
		if _, ok := sub[key]; ok {
			return path + "." + key
		}
		if p := nestedKey(sub, key, path); p != "" {
			return p
		}
	}
	return ""
}
