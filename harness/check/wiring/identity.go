package wiring

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	corev1 "k8s.io/api/core/v1"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/deploy"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/platform"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/tfeval"
)

// RoleAnnotation is the IRSA annotation on a ServiceAccount naming the role its pods assume.
const RoleAnnotation = "eks.amazonaws.com/role-arn"

// addonServiceAccounts are the service accounts EKS managed add-ons create (and annotate from the add-on's
// service_account_role_arn): hand-written, from the add-ons' documentation; nothing here runs EKS add-ons.
var addonServiceAccounts = map[string]string{
	"vpc-cni":                         "kube-system/aws-node",
	"aws-ebs-csi-driver":              "kube-system/ebs-csi-controller-sa",
	"aws-efs-csi-driver":              "kube-system/efs-csi-controller-sa",
	"amazon-cloudwatch-observability": "amazon-cloudwatch/cloudwatch-agent",
	"aws-mountpoint-s3-csi-driver":    "kube-system/s3-csi-driver-sa",
}

var subjectFormat = regexp.MustCompile(`^system:serviceaccount:([a-z0-9]([-a-z0-9]*[a-z0-9])?):([a-z0-9]([-.a-z0-9]*[a-z0-9])?)$`)

// role is one IAM role Terraform creates for a web identity (IRSA): its name and the subjects its trust allows.
type role struct {
	name     string // "" when only an apply knows it (name_prefix)
	key      string // for_each key, "" without for_each
	resource string // module.aws_iam_role.NAME
	where    string
	subjects []subject
}

type subject struct {
	text  string
	where string
}

// identity: every IRSA trust names system:serviceaccount:<ns>:<sa> for a ServiceAccount that a chart, a manifest
// or an EKS add-on really creates, annotated with the role that trusts it; every role the GitOps Bridge hands out
// exists under that name; every pod that reads or writes the artifacts bucket runs as such a ServiceAccount.
func identity(in Input, tree *tfeval.Tree) result.Result {
	const name = "wiring/identity"
	var v []string
	docs, errs := trustDocs(tree)
	v = append(v, errs...)
	roles, errs := iamRoles(tree, docs)
	v = append(v, errs...)
	addons, errs := addonSAs(tree)
	v = append(v, errs...)

	sas := map[string]deploy.Object{}
	for _, o := range in.objects() {
		if o.GetKind() == "ServiceAccount" && o.GetAPIVersion() == "v1" {
			sas[o.GetNamespace()+"/"+o.GetName()] = o
		}
	}
	byName := map[string]*role{}
	trusted := map[string][]*role{} // ns/sa -> roles trusting it
	for i := range roles {
		r := &roles[i]
		if r.name != "" {
			byName[r.name] = r
		}
		for _, s := range r.subjects {
			m := subjectFormat.FindStringSubmatch(s.text)
			if m == nil {
				v = append(v, fmt.Sprintf("%s: %s trusts subject %q, which is not system:serviceaccount:<namespace>:<name>: no service account token ever matches it, the role can never be assumed", s.where, r.describe(), s.text))
				continue
			}
			trusted[m[1]+"/"+m[3]] = append(trusted[m[1]+"/"+m[3]], r)
		}
	}
	// Namespaces of Applications whose charts could not be rendered: what they would create is unknown.
	unrendered := map[string]string{}
	for _, s := range in.Skipped {
		app, _, _ := strings.Cut(s, ":")
		for _, a := range in.Platform.Apps {
			if a.Name == app {
				unrendered[a.Namespace] = app
			}
		}
	}
	var unverified []string
	// Trusted service accounts exist and point back at the role.
	keys := sortedKeys(trusted)
	for _, sa := range keys {
		if _, ok := addons[sa]; ok {
			continue
		}
		for _, r := range trusted[sa] {
			o, ok := sas[sa]
			if !ok && unrendered[strings.SplitN(sa, "/", 2)[0]] != "" {
				unverified = append(unverified, fmt.Sprintf("%s (chart of %s not rendered)", sa, unrendered[strings.SplitN(sa, "/", 2)[0]]))
				continue
			}
			if !ok {
				v = append(v, fmt.Sprintf("%s: %s trusts %s, but no chart, manifest or EKS add-on creates that ServiceAccount (with release names: a chart's name may differ from its Application's; set the chart's serviceAccount.name)", r.where, r.describe(), sa))
				continue
			}
			got := o.GetAnnotations()[RoleAnnotation]
			if r.name != "" && !strings.HasSuffix(got, ":role/"+r.name) {
				v = append(v, fmt.Sprintf("%s: ServiceAccount %s has %s=%q, want the ARN of role %s that trusts it (%s)", o.Source, sa, RoleAnnotation, got, r.name, r.where))
			}
		}
	}
	// Annotated service accounts name a role that exists and trusts them.
	for _, sa := range sortedKeys(sas) {
		o := sas[sa]
		arn, ok := o.GetAnnotations()[RoleAnnotation]
		if !ok {
			continue
		}
		rn := arn[strings.LastIndex(arn, "/")+1:]
		r, exists := byName[rn]
		switch {
		case arn == "" || !strings.Contains(arn, ":role/"):
			v = append(v, fmt.Sprintf("%s: ServiceAccount %s has %s=%q: not a role ARN; its pods get no AWS credentials", o.Source, sa, RoleAnnotation, arn))
		case !exists:
			v = append(v, fmt.Sprintf("%s: ServiceAccount %s assumes %s, but Terraform creates no role of that name (a name_prefix makes the name random: give the role a fixed name)", o.Source, sa, arn))
		case !r.trusts(sa):
			v = append(v, fmt.Sprintf("%s: ServiceAccount %s assumes role %s, whose trust (%s) does not name system:serviceaccount:%s", o.Source, sa, rn, r.where, strings.Replace(sa, "/", ":", 1)))
		}
	}
	// The roles the GitOps Bridge hands out exist.
	for _, k := range sortedLeaves(in.Platform.Bridge.Leaves, "roles.") {
		arn := in.Platform.Bridge.Leaves[k]
		if arn == "" || platform.IsUnknown(arn) {
			continue
		}
		rn := arn[strings.LastIndex(arn, "/")+1:]
		if _, ok := byName[rn]; !ok {
			v = append(v, fmt.Sprintf("%s: the GitOps Bridge's %s = %s names no role Terraform creates", in.Platform.Bridge.Source, k, arn))
		}
	}
	// Pods that use the artifacts bucket run as a service account with a role.
	users, errs := bucketUsers(in)
	v = append(v, errs...)
	for _, u := range users {
		sa := u.namespace + "/" + u.serviceAccount
		if len(trusted[sa]) == 0 {
			v = append(v, fmt.Sprintf("%s: %s uses the artifacts bucket (%s) as ServiceAccount %s, which no IAM role trusts: it gets no S3 credentials", u.source, u.workload, u.via, sa))
		}
	}
	r := verdict(name, v, in.Skipped, "%d IRSA role(s), %d trusted service account(s) created and annotated, %d pod template(s) using the bucket run with a role", len(roles), len(trusted)-len(unverified), len(users))
	if r.Status == result.Passed && len(unverified) > 0 {
		r.Message += "; not verified: " + strings.Join(unverified, ", ")
	}
	return r
}

func (r *role) describe() string {
	if r.name != "" {
		return "role " + r.name
	}
	return r.resource
}

func (r *role) trusts(sa string) bool {
	for _, s := range r.subjects {
		if m := subjectFormat.FindStringSubmatch(s.text); m != nil && m[1]+"/"+m[3] == sa {
			return true
		}
	}
	return false
}

// trustDocs evaluates every aws_iam_policy_document that allows sts:AssumeRoleWithWebIdentity: doc key
// "module.name" -> for_each key -> the :sub subjects.
func trustDocs(tree *tfeval.Tree) (map[string]map[string][]subject, []string) {
	out := map[string]map[string][]subject{}
	var errs []string
	for _, m := range tree.All() {
		for _, b := range m.Blocks {
			if b.Type != "data" || len(b.Labels) != 2 || b.Labels[0] != "aws_iam_policy_document" {
				continue
			}
			id := m.Dir + "." + b.Labels[1]
			instances, err := forEach(m, b)
			if err != nil {
				errs = append(errs, err.Error())
				continue
			}
			for _, inst := range instances {
				for _, st := range b.Body.Blocks {
					if st.Type != "statement" || !mentions(st, "actions", "sts:AssumeRoleWithWebIdentity") {
						continue
					}
					for _, c := range st.Body.Blocks {
						va, ok := c.Body.Attributes["variable"]
						vals, ok2 := c.Body.Attributes["values"]
						if c.Type != "condition" || !ok || !ok2 {
							continue
						}
						errs = append(errs, conditionKey(m, va, vals, inst)...)
						if !strings.Contains(source(m, va.Expr), ":sub") {
							continue
						}
						got, err := m.Eval(vals.Expr, inst.extra)
						if err != nil {
							errs = append(errs, fmt.Sprintf("%s: cannot evaluate the trust subjects: %v", at(vals.SrcRange), err))
							continue
						}
						if out[id] == nil {
							out[id] = map[string][]subject{}
						}
						for _, s := range stringsOf(got) {
							out[id][inst.key] = append(out[id][inst.key], subject{text: s, where: at(vals.SrcRange)})
						}
					}
				}
			}
		}
	}
	return out, errs
}

// iamRoles evaluates every aws_iam_role whose assume_role_policy is one of the trust documents.
func iamRoles(tree *tfeval.Tree, docs map[string]map[string][]subject) ([]role, []string) {
	var out []role
	errs := eachResource(tree, "aws_iam_role", func(m *tfeval.Module, b *hclsyntax.Block, inst instance) {
		arp, ok := b.Body.Attributes["assume_role_policy"]
		if !ok {
			return
		}
		doc, key, ok := docRef(m, arp.Expr, inst.extra)
		if !ok {
			return
		}
		subs, ok := docs[m.Dir+"."+doc]
		if !ok {
			return
		}
		r := role{key: inst.key, resource: "aws_iam_role." + b.Labels[1], where: at(b.DefRange()), subjects: subs[key]}
		if inst.key != "" {
			r.resource += fmt.Sprintf("[%q]", inst.key)
		}
		r.name, _ = evalString(m, b, "name", inst)
		out = append(out, r)
	})
	return out, errs
}

// addonSAs are the service accounts of the EKS managed add-ons Terraform installs.
func addonSAs(tree *tfeval.Tree) (map[string]bool, []string) {
	out := map[string]bool{}
	errs := eachResource(tree, "aws_eks_addon", func(m *tfeval.Module, b *hclsyntax.Block, inst instance) {
		if name, ok := evalString(m, b, "addon_name", inst); ok && addonServiceAccounts[name] != "" {
			out[addonServiceAccounts[name]] = true
		}
	})
	return out, errs
}

// eachResource calls f for every instance (for_each evaluated) of every resource of typ in the tree; a for_each
// that cannot be evaluated is returned as an error line.
func eachResource(tree *tfeval.Tree, typ string, f func(m *tfeval.Module, b *hclsyntax.Block, inst instance)) []string {
	var errs []string
	for _, m := range tree.All() {
		for _, b := range m.Blocks {
			if b.Type != "resource" || len(b.Labels) != 2 || b.Labels[0] != typ {
				continue
			}
			instances, err := forEach(m, b)
			if err != nil {
				errs = append(errs, err.Error())
				continue
			}
			for _, inst := range instances {
				f(m, b, inst)
			}
		}
	}
	return errs
}

// evalString evaluates a block's attribute for one instance; ok is false when it is absent, unknown or no string.
func evalString(m *tfeval.Module, b *hclsyntax.Block, attr string, inst instance) (string, bool) {
	a, ok := b.Body.Attributes[attr]
	if !ok {
		return "", false
	}
	v, err := m.Eval(a.Expr, inst.extra)
	if err != nil || !v.IsKnown() || v.IsNull() || v.Type() != cty.String {
		return "", false
	}
	return v.AsString(), true
}

type instance struct {
	key   string
	extra map[string]cty.Value
}

// forEach evaluates a block's for_each into its instances (one, keyless, without for_each).
//
// A block with count has count instances (count.index bound), none when count is 0 — resources an environment
// switches off (count = var.enable_x ? 1 : 0) do not exist there. An unknown count is one instance.
func forEach(m *tfeval.Module, b *hclsyntax.Block) ([]instance, error) {
	if c, ok := b.Body.Attributes["count"]; ok {
		v, err := m.Eval(c.Expr, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: cannot evaluate count: %v", at(c.SrcRange), err)
		}
		if !v.IsKnown() || v.IsNull() || v.Type() != cty.Number {
			return []instance{{}}, nil
		}
		n, _ := v.AsBigFloat().Int64()
		var out []instance
		for i := int64(0); i < n; i++ {
			out = append(out, instance{extra: map[string]cty.Value{"count": cty.ObjectVal(map[string]cty.Value{"index": cty.NumberIntVal(i)})}})
		}
		return out, nil
	}
	fe, ok := b.Body.Attributes["for_each"]
	if !ok {
		return []instance{{}}, nil
	}
	v, err := m.Eval(fe.Expr, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: cannot evaluate for_each: %v", at(fe.SrcRange), err)
	}
	if !v.IsWhollyKnown() || v.IsNull() {
		return nil, nil
	}
	var out []instance
	if v.Type().IsSetType() {
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			if e.Type() == cty.String {
				out = append(out, instance{key: e.AsString(), extra: map[string]cty.Value{"each": cty.ObjectVal(map[string]cty.Value{"key": e, "value": e})}})
			}
		}
		return out, nil
	}
	if !v.CanIterateElements() {
		return nil, fmt.Errorf("%s: for_each is not a map or set", at(fe.SrcRange))
	}
	for it := v.ElementIterator(); it.Next(); {
		k, e := it.Element()
		out = append(out, instance{key: k.AsString(), extra: map[string]cty.Value{"each": cty.ObjectVal(map[string]cty.Value{"key": k, "value": e})}})
	}
	return out, nil
}

// docRef reads `data.aws_iam_policy_document.NAME[KEY].json` (KEY evaluated) from an assume_role_policy.
func docRef(m *tfeval.Module, e hclsyntax.Expression, extra map[string]cty.Value) (doc, key string, ok bool) {
	if rt, isRel := e.(*hclsyntax.RelativeTraversalExpr); isRel {
		e = rt.Source
	}
	var tr hcl.Traversal
	switch x := e.(type) {
	case *hclsyntax.IndexExpr:
		st, ok := x.Collection.(*hclsyntax.ScopeTraversalExpr)
		if !ok {
			return "", "", false
		}
		tr = st.Traversal
		kv, err := m.Eval(x.Key, extra)
		if err != nil || !kv.IsKnown() || kv.Type() != cty.String {
			return "", "", false
		}
		key = kv.AsString()
	case *hclsyntax.ScopeTraversalExpr:
		tr = x.Traversal
		for _, s := range tr {
			if ix, ok := s.(hcl.TraverseIndex); ok && ix.Key.Type() == cty.String {
				key = ix.Key.AsString()
			}
		}
	default:
		return "", "", false
	}
	if len(tr) < 3 || tr.RootName() != "data" {
		return "", "", false
	}
	typ, _ := tr[1].(hcl.TraverseAttr)
	name, _ := tr[2].(hcl.TraverseAttr)
	if typ.Name != "aws_iam_policy_document" {
		return "", "", false
	}
	return name.Name, key, true
}

func mentions(b *hclsyntax.Block, attr, want string) bool {
	a, ok := b.Body.Attributes[attr]
	if !ok {
		return false
	}
	v, diags := a.Expr.Value(nil)
	if diags.HasErrors() {
		return false
	}
	for _, s := range stringsOf(v) {
		if s == want {
			return true
		}
	}
	return false
}

func stringsOf(v cty.Value) []string {
	if !v.IsKnown() || v.IsNull() {
		return nil
	}
	if v.Type() == cty.String {
		return []string{v.AsString()}
	}
	var out []string
	if v.CanIterateElements() {
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			out = append(out, stringsOf(e)...)
		}
	}
	return out
}

func source(m *tfeval.Module, e hclsyntax.Expression) string {
	var sb strings.Builder
	for _, tr := range e.Variables() {
		sb.WriteString(tr.RootName())
	}
	if t, ok := e.(*hclsyntax.TemplateExpr); ok {
		for _, p := range t.Parts {
			if l, ok := p.(*hclsyntax.LiteralValueExpr); ok && l.Val.Type() == cty.String {
				sb.WriteString(l.Val.AsString())
			}
		}
	}
	return sb.String()
}

func at(r hcl.Range) string { return fmt.Sprintf("%s:%d", r.Filename, r.Start.Line) }

// user is a pod template that reaches the artifacts bucket.
type user struct {
	workload, source, namespace, serviceAccount, via string
}

// bucketUsers finds the pod templates that use the artifacts bucket: the bucket's name is in their own object,
// or in a ConfigMap or Secret of their namespace they mount or read.
func bucketUsers(in Input) ([]user, []string) {
	bucket := in.Platform.Bridge.Leaves["artifactsBucket"]
	objs := in.objects()
	holds := map[string]bool{} // kind/ns/name of ConfigMaps and Secrets naming the bucket
	for _, o := range objs {
		if k := o.GetKind(); (k == "ConfigMap" || k == "Secret") && contains(o, bucket) {
			holds[k+"/"+o.GetNamespace()+"/"+o.GetName()] = true
		}
	}
	var out []user
	var errs []string
	for _, o := range objs {
		ws, err := deploy.Workloads([]deploy.Object{o})
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", o.Source, err))
			continue
		}
		for _, w := range ws {
			ns := w.Namespace
			if ns == "" {
				ns = o.GetNamespace()
			}
			via := ""
			if contains(o, bucket) {
				via = "named in the object"
			} else if ref := refs(w.Spec, ns, holds); ref != "" {
				via = "through " + ref
			}
			if via == "" {
				continue
			}
			sa := w.Spec.ServiceAccountName
			if sa == "" {
				sa = "default"
			}
			out = append(out, user{workload: w.Name, source: o.Source, namespace: ns, serviceAccount: sa, via: via})
		}
	}
	return out, errs
}

func refs(spec corev1.PodSpec, ns string, holds map[string]bool) string {
	for _, vol := range spec.Volumes {
		if vol.ConfigMap != nil && holds["ConfigMap/"+ns+"/"+vol.ConfigMap.Name] {
			return "ConfigMap " + vol.ConfigMap.Name
		}
		if vol.Secret != nil && holds["Secret/"+ns+"/"+vol.Secret.SecretName] {
			return "Secret " + vol.Secret.SecretName
		}
		if vol.Projected != nil {
			for _, s := range vol.Projected.Sources {
				if s.ConfigMap != nil && holds["ConfigMap/"+ns+"/"+s.ConfigMap.Name] {
					return "ConfigMap " + s.ConfigMap.Name
				}
				if s.Secret != nil && holds["Secret/"+ns+"/"+s.Secret.Name] {
					return "Secret " + s.Secret.Name
				}
			}
		}
	}
	for _, c := range append(append([]corev1.Container(nil), spec.InitContainers...), spec.Containers...) {
		for _, ef := range c.EnvFrom {
			if ef.ConfigMapRef != nil && holds["ConfigMap/"+ns+"/"+ef.ConfigMapRef.Name] {
				return "ConfigMap " + ef.ConfigMapRef.Name
			}
			if ef.SecretRef != nil && holds["Secret/"+ns+"/"+ef.SecretRef.Name] {
				return "Secret " + ef.SecretRef.Name
			}
		}
	}
	return ""
}

func contains(o deploy.Object, s string) bool {
	data, err := json.Marshal(o.Object)
	return err == nil && strings.Contains(string(data), s)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sortedLeaves(leaves map[string]string, prefix string) []string {
	var out []string
	for k := range leaves {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

var arnRef = regexp.MustCompile(`(\.|_)arn\b[^"]*}:(sub|aud|amr)`)

// conditionKey judges one condition of a web-identity trust statement as STS evaluates it: the key is the OIDC
// issuer's host and path followed by :sub, :aud or :amr (IAM's "Available keys for OIDC federation"; neither the
// provider's ARN nor an https:// URL: no token carries such a key, so StringEquals never matches), and the
// audience is sts.amazonaws.com, the only audience EKS's pod identity webhook projects tokens for (IRSA's
// documentation). A key or values that cannot be evaluated statically are not judged here.
func conditionKey(m *tfeval.Module, va, vals *hclsyntax.Attribute, inst instance) []string {
	text := exprText(va.Expr)
	k := strings.Trim(text, `"`)
	if key, err := m.Eval(va.Expr, inst.extra); err == nil && key.IsKnown() && !key.IsNull() && key.Type() == cty.String {
		k = key.AsString()
	} else if arnRef.MatchString(text) {
		// Known only after an apply: what the key is built from still tells (an ARN attribute is never a key).
		return []string{fmt.Sprintf("%s: trust condition key %s is built from an ARN; STS's keys are <issuer host/path>:sub and :aud (no token carries this key: AssumeRoleWithWebIdentity is denied)", at(va.SrcRange), text)}
	}
	switch {
	case strings.HasPrefix(k, "arn:"):
		return []string{fmt.Sprintf("%s: trust condition key %q is built from the OIDC provider's ARN; STS's keys are <issuer host/path>:sub and :aud (no token carries this key: AssumeRoleWithWebIdentity is denied)", at(va.SrcRange), k)}
	case strings.HasPrefix(k, "https://"):
		return []string{fmt.Sprintf("%s: trust condition key %q keeps the issuer URL's https://; STS's keys are <issuer host/path>:sub and :aud", at(va.SrcRange), k)}
	case strings.HasSuffix(k, ":aud"):
		got, err := m.Eval(vals.Expr, inst.extra)
		if err != nil || !got.IsWhollyKnown() {
			return nil
		}
		for _, v := range stringsOf(got) {
			if v != "sts.amazonaws.com" {
				return []string{fmt.Sprintf("%s: trust condition %s requires audience %q; EKS's pod identity webhook projects service account tokens for sts.amazonaws.com only: AssumeRoleWithWebIdentity is denied (InvalidIdentityToken: incorrect token audience)", at(vals.SrcRange), text, v)}
			}
		}
	}
	return nil
}

// exprText is an expression as written in its file ("" when the file cannot be read).
func exprText(e hclsyntax.Expression) string {
	r := e.Range()
	data, err := os.ReadFile(r.Filename)
	if err != nil || r.End.Byte > len(data) || r.Start.Byte > r.End.Byte {
		return ""
	}
	return string(data[r.Start.Byte:r.End.Byte])
}
