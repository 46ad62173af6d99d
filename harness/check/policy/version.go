package policy

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/shape"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/tfeval"
)

// SupportCalendar is the Terraform local holding the end of EKS standard support per version: one table, read by
// the variable's validation (at plan) and by this policy.
const SupportCalendar = "eks_standard_support_ends"

// clusterVersion: the declared version is in standard support today; the cluster_version variable's own
// validation, evaluated as Terraform would at plan time for every version of the calendar (and one it lacks),
// accepts exactly the supported ones; the cluster opts out of silently billed extended support.
func clusterVersion(m *module, s *shape.Shape, now time.Time) []string {
	where := m.dir + "/variables.tf"
	variable, hasVar := m.find("variable", "cluster_version")
	if hasVar {
		where = at(variable.DefRange())
	}
	tf, err := m.eval(now)
	if err != nil {
		return []string{err.Error()}
	}
	cal, err := calendar(tf)
	if err != nil {
		return []string{err.Error()}
	}
	var v []string
	supported := func(ver string) (bool, string) {
		end, ok := cal[ver]
		return ok && now.Before(end), endText(cal, ver, now)
	}
	if _, err := strconv.Atoi(strings.TrimPrefix(s.KubernetesVersion, "1.")); err != nil || !strings.HasPrefix(s.KubernetesVersion, "1.") {
		v = append(v, fmt.Sprintf("%s: cluster_version %q is not 1.NN", where, s.KubernetesVersion))
	} else if ok, end := supported(s.KubernetesVersion); !ok {
		v = append(v, fmt.Sprintf("%s: cluster_version %s %s (extended support costs $0.60/h per cluster instead of $0.10/h); upgrade one minor at a time", where, s.KubernetesVersion, end))
	}
	if hasVar {
		vals := variable.nested("validation")
		if len(vals) == 0 {
			v = append(v, where+": cluster_version has no validation: a version outside standard support would be applied and billed as extended support")
		}
		probe := append(sortedKeys(cal), "1.99")
		for _, ver := range probe {
			accepted := true
			for _, val := range vals {
				cond, ok := val.Body.Attributes["condition"]
				if !ok {
					continue
				}
				ok2, err := validates(tf, m, cond, ver)
				if err != nil {
					v = append(v, fmt.Sprintf("%s: cannot evaluate the validation of cluster_version: %v", at(cond.SrcRange), err))
					return v
				}
				accepted = accepted && ok2
			}
			sup, end := supported(ver)
			switch {
			case accepted && !sup:
				v = append(v, fmt.Sprintf("%s: the validation of cluster_version accepts %s, which %s: refuse versions outside standard support (validate against local.%s)", where, ver, end, SupportCalendar))
			case !accepted && sup && ver == s.KubernetesVersion:
				v = append(v, fmt.Sprintf("%s: the validation of cluster_version refuses the declared %s", where, ver))
			}
		}
	}
	clusters := m.resources("aws_eks_cluster")
	for _, c := range clusters {
		up := c.nested("upgrade_policy")
		if len(up) == 0 {
			v = append(v, fmt.Sprintf("%s: aws_eks_cluster.%s has no upgrade_policy: at the end of standard support EKS moves it to extended support and bills $0.60/h silently; set upgrade_policy { support_type = \"STANDARD\" }", at(c.DefRange()), c.Labels[1]))
			continue
		}
		if msg, ok := expectAttr(up[0], "support_type", `"STANDARD"`); !ok {
			v = append(v, msg+" (extended support is billed silently)")
		}
	}
	return v
}

// eval is the root module as Terraform would evaluate it for the environment at now.
func (m *module) eval(now time.Time) (*tfeval.Module, error) {
	var files []tfeval.File
	for _, f := range m.files {
		files = append(files, tfeval.File{Path: f.Path, Data: f.Data})
	}
	return tfeval.Load(m.dir, files, tfeval.Inputs{Vars: m.vars, Now: now})
}

func calendar(tf *tfeval.Module) (map[string]time.Time, error) {
	a := tf.LocalExpr(SupportCalendar)
	if a == nil {
		return nil, fmt.Errorf("%s: no local.%s (the end of EKS standard support per version, read by the validation and this policy)", tf.Dir, SupportCalendar)
	}
	val, err := tf.Local(SupportCalendar)
	if err != nil {
		return nil, err
	}
	leaves, unknown := tfeval.Strings(val)
	if len(unknown) > 0 || len(leaves) == 0 {
		return nil, fmt.Errorf("%s:%d: local.%s must be a literal map of version = RFC 3339 date", a.SrcRange.Filename, a.SrcRange.Start.Line, SupportCalendar)
	}
	out := map[string]time.Time{}
	for ver, d := range leaves {
		t, err := time.Parse(time.RFC3339, d)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: local.%s[%q] = %q is not an RFC 3339 time", a.SrcRange.Filename, a.SrcRange.Start.Line, SupportCalendar, ver, d)
		}
		out[ver] = t
	}
	return out, nil
}

// validates evaluates a validation condition with var.cluster_version = ver (the other variables as declared).
func validates(tf *tfeval.Module, m *module, cond *hclsyntax.Attribute, ver string) (bool, error) {
	vars := map[string]cty.Value{}
	for k, v := range m.vars {
		vars[k] = v
	}
	vars["cluster_version"] = cty.StringVal(ver)
	v, err := tf.Eval(cond.Expr, map[string]cty.Value{"var": cty.ObjectVal(vars)})
	if err != nil {
		// An error in a condition fails the validation, as at plan.
		return false, nil
	}
	if !v.IsKnown() || v.IsNull() || v.Type() != cty.Bool {
		return false, fmt.Errorf("condition is not a known bool for %s", ver)
	}
	return v.True(), nil
}

func endText(cal map[string]time.Time, ver string, now time.Time) string {
	end, ok := cal[ver]
	switch {
	case !ok:
		return "is not in the support calendar (local." + SupportCalendar + ")"
	case now.Before(end):
		return "leaves EKS standard support on " + end.Format(time.DateOnly)
	}
	return "left EKS standard support on " + end.Format(time.DateOnly)
}

func sortedKeys(m map[string]time.Time) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
