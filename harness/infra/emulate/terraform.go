package emulate

import (
	"fmt"
	"maps"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/platform"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/tfeval"
)

// Instance is one resource instance Terraform declares: a resource block expanded by its count or for_each as
// they evaluate for the environment (one instance when they cannot be known before an apply).
type Instance struct {
	Type string
	// Address is Terraform's address, e.g. module.eks.aws_eks_node_group.this["gpu"].
	Address string
	// Key is the for_each key or the count index ("" for a single instance).
	Key   string
	m     *tfeval.Module
	b     *hclsyntax.Block
	extra map[string]cty.Value
}

// Value evaluates an attribute of the instance (each and count bound); cty.DynamicVal when absent or known only
// after an apply.
func (i Instance) Value(name string) cty.Value {
	a, ok := i.b.Body.Attributes[name]
	if !ok {
		return cty.DynamicVal
	}
	v, err := i.m.Eval(a.Expr, i.extra)
	if err != nil {
		return cty.DynamicVal
	}
	return v
}

// String is a known string attribute, else "".
func (i Instance) String(name string) string {
	v := i.Value(name)
	if !v.IsWhollyKnown() || v.IsNull() || v.Type() != cty.String {
		return ""
	}
	return v.AsString()
}

// Tags are the instance's known tags (tags attribute, or a tag_specifications block of resource_type typ when
// typ is given).
func (i Instance) Tags(typ string) map[string]string {
	v := i.Value("tags")
	if typ != "" {
		v = cty.DynamicVal
		for _, b := range i.b.Body.Blocks {
			if b.Type != "tag_specifications" {
				continue
			}
			if rt, ok := b.Body.Attributes["resource_type"]; ok {
				if t, err := i.m.Eval(rt.Expr, i.extra); err == nil && t.Type() == cty.String && t.AsString() == typ {
					if ta, ok := b.Body.Attributes["tags"]; ok {
						v, _ = i.m.Eval(ta.Expr, i.extra)
					}
				}
			}
		}
	}
	out := map[string]string{}
	if v == cty.NilVal || !v.IsWhollyKnown() || v.IsNull() || !(v.Type().IsObjectType() || v.Type().IsMapType()) {
		return out
	}
	for k, e := range v.AsValueMap() {
		if e.Type() == cty.String && !e.IsNull() {
			out[k] = e.AsString()
		}
	}
	return out
}

// Declared expands every resource block of the platform's Terraform (root module and local modules) for the
// environment's variables overridden by vars (the nightly's -var values: run_id, expires_at, ...).
func Declared(p *platform.Platform, vars map[string]cty.Value) ([]Instance, error) {
	var files []tfeval.File
	for _, f := range p.Terraform.Files {
		files = append(files, tfeval.File{Path: f.Path, Data: f.Data})
	}
	all := maps.Clone(p.Vars)
	maps.Copy(all, vars)
	account := ""
	if p.Bridge != nil {
		account = p.Bridge.Leaves["accountId"]
	}
	if account == "" {
		account = platform.EmulatorAccount
	}
	tree, err := tfeval.LoadTree(p.Terraform.Dir, files, tfeval.Inputs{Vars: all, Now: time.Now(), Data: map[string]cty.Value{
		"aws_caller_identity.current": cty.ObjectVal(map[string]cty.Value{"account_id": cty.StringVal(account)}),
		"aws_partition.current":       cty.ObjectVal(map[string]cty.Value{"partition": cty.StringVal("aws")}),
	}})
	if err != nil {
		return nil, err
	}
	modules := map[*tfeval.Module]string{tree.Root: ""}
	for name, m := range tree.Modules {
		modules[m] = "module." + name + "."
	}
	var out []Instance
	for _, m := range tree.All() {
		for _, b := range m.Blocks {
			if b.Type != "resource" || len(b.Labels) != 2 {
				continue
			}
			base := Instance{Type: b.Labels[0], Address: modules[m] + b.Labels[0] + "." + b.Labels[1], m: m, b: b}
			expanded, err := expand(base)
			if err != nil {
				return nil, err
			}
			out = append(out, expanded...)
		}
	}
	return out, nil
}

// expand applies count or for_each.
func expand(i Instance) ([]Instance, error) {
	if a, ok := i.b.Body.Attributes["count"]; ok {
		v, err := i.m.Eval(a.Expr, nil)
		if err != nil || !v.IsKnown() || v.IsNull() {
			i.Key = "?"
			return []Instance{i}, nil
		}
		var n int
		if err := gocty(v, &n); err != nil {
			return nil, fmt.Errorf("%s: count: %w", i.Address, err)
		}
		var out []Instance
		for k := range n {
			c := i
			c.Key = fmt.Sprint(k)
			c.Address = fmt.Sprintf("%s[%d]", i.Address, k)
			c.extra = map[string]cty.Value{"count": cty.ObjectVal(map[string]cty.Value{"index": cty.NumberIntVal(int64(k))})}
			out = append(out, c)
		}
		return out, nil
	}
	if a, ok := i.b.Body.Attributes["for_each"]; ok {
		v, err := i.m.Eval(a.Expr, nil)
		if err != nil || !v.IsWhollyKnown() || v.IsNull() {
			i.Key = "?"
			return []Instance{i}, nil
		}
		elems := map[string]cty.Value{}
		switch {
		case v.Type().IsSetType() || v.Type().IsListType() || v.Type().IsTupleType():
			for _, e := range v.AsValueSlice() {
				elems[e.AsString()] = e
			}
		default:
			elems = v.AsValueMap()
		}
		keys := make([]string, 0, len(elems))
		for k := range elems {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var out []Instance
		for _, k := range keys {
			c := i
			c.Key = k
			c.Address = fmt.Sprintf("%s[%q]", i.Address, k)
			c.extra = map[string]cty.Value{"each": cty.ObjectVal(map[string]cty.Value{"key": cty.StringVal(k), "value": elems[k]})}
			out = append(out, c)
		}
		return out, nil
	}
	return []Instance{i}, nil
}

func gocty(v cty.Value, n *int) error {
	if v.Type() != cty.Number {
		return fmt.Errorf("not a number: %s", v.Type().FriendlyName())
	}
	bf := v.AsBigFloat()
	i, acc := bf.Int64()
	if acc != 0 {
		return fmt.Errorf("not a whole number")
	}
	*n = int(i)
	return nil
}

// Types is the sorted set of resource types the Terraform declares, in any module, whether or not the
// environment creates an instance of them (each must be mapped for the environments that do).
func Types(p *platform.Platform) ([]string, error) {
	seen := map[string]bool{}
	for _, f := range p.Terraform.Files {
		if !strings.HasSuffix(f.Path, ".tf") {
			continue
		}
		hf, diags := hclsyntax.ParseConfig(f.Data, f.Path, hcl.InitialPos)
		if diags.HasErrors() {
			return nil, fmt.Errorf("%s", diags.Error())
		}
		for _, b := range hf.Body.(*hclsyntax.Body).Blocks {
			if b.Type == "resource" && len(b.Labels) == 2 {
				seen[b.Labels[0]] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for t := range seen {
		out = append(out, t)
	}
	sort.Strings(out)
	return out, nil
}
