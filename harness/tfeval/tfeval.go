// Package tfeval evaluates expressions of a Terraform module statically, without a provider: variables (from
// the caller), locals, the data sources the caller answers (the account, the partition) and Terraform's own
// functions that the platform uses. What only an apply can know — resource attributes, module outputs — is
// unknown, never guessed: a value built from it stays unknown. The harness uses it to compute the GitOps Bridge
// (local.gitops_metadata) exactly as the HCL writes it, and to evaluate validations and trust subjects.
package tfeval

import (
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/customdecode"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// File is one source file of a module.
type File struct {
	Path string
	Data []byte
}

// Inputs are what the evaluation knows beyond the module's text.
type Inputs struct {
	// Vars are the root module's variables (shape.Variables).
	Vars map[string]cty.Value
	// Data answers data sources by "type.name", e.g. "aws_caller_identity.current" -> {account_id = "..."}.
	Data map[string]cty.Value
	// Now is plantimestamp() and timestamp().
	Now time.Time
}

// Module is the parsed text of one module directory (the root module: its own files, not modules/).
type Module struct {
	Dir string
	// Blocks are the module's top-level blocks (resource, data, variable, module, output, locals).
	Blocks []*hclsyntax.Block
	in     Inputs
	locals map[string]*hclsyntax.Attribute
	// evaluating guards against local.a -> local.b -> local.a.
	evaluating map[string]bool
	cache      map[string]cty.Value
}

// Load parses the .tf files of dir among files (files of subdirectories are ignored).
func Load(dir string, files []File, in Inputs) (*Module, error) {
	m := &Module{Dir: dir, in: in, locals: map[string]*hclsyntax.Attribute{}, evaluating: map[string]bool{}, cache: map[string]cty.Value{}}
	for _, f := range files {
		if !strings.HasSuffix(f.Path, ".tf") || filepath.Clean(filepath.Dir(f.Path)) != filepath.Clean(dir) {
			continue
		}
		hf, diags := hclsyntax.ParseConfig(f.Data, f.Path, hcl.InitialPos)
		if diags.HasErrors() {
			return nil, fmt.Errorf("%s", diags.Error())
		}
		for _, b := range hf.Body.(*hclsyntax.Body).Blocks {
			m.Blocks = append(m.Blocks, b)
			if b.Type != "locals" {
				continue
			}
			for name, a := range b.Body.Attributes {
				if prev, dup := m.locals[name]; dup {
					return nil, fmt.Errorf("%s: local.%s is also defined at %s", at(a.SrcRange), name, at(prev.SrcRange))
				}
				m.locals[name] = a
			}
		}
	}
	return m, nil
}

// Vars are the module's input variables as evaluated.
func (m *Module) Vars() map[string]cty.Value { return m.in.Vars }

// LocalExpr returns the expression of local.name, or nil.
func (m *Module) LocalExpr(name string) *hclsyntax.Attribute { return m.locals[name] }

// Local evaluates local.name.
func (m *Module) Local(name string) (cty.Value, error) {
	if v, ok := m.cache[name]; ok {
		return v, nil
	}
	a, ok := m.locals[name]
	if !ok {
		return cty.NilVal, fmt.Errorf("%s: no local.%s", m.Dir, name)
	}
	if m.evaluating[name] {
		return cty.NilVal, fmt.Errorf("%s: local.%s refers to itself", at(a.SrcRange), name)
	}
	m.evaluating[name] = true
	defer delete(m.evaluating, name)
	v, err := m.Eval(a.Expr, nil)
	if err != nil {
		return cty.NilVal, err
	}
	m.cache[name] = v
	return v, nil
}

// Eval evaluates expr in the module, with extra root names (each, count, or a variable overridden with var).
func (m *Module) Eval(expr hcl.Expression, extra map[string]cty.Value) (cty.Value, error) {
	ctx := &hcl.EvalContext{Variables: map[string]cty.Value{}, Functions: m.functions()}
	for k, v := range extra {
		ctx.Variables[k] = v
	}
	locals := map[string]cty.Value{}
	data := map[string]map[string]cty.Value{}
	for _, tr := range expr.Variables() {
		root := tr.RootName()
		if _, ok := ctx.Variables[root]; ok && root != "local" && root != "data" {
			continue
		}
		switch root {
		case "var":
			if _, ok := extra["var"]; !ok {
				ctx.Variables["var"] = cty.ObjectVal(m.in.Vars)
			}
		case "local":
			name, ok := step(tr, 1)
			if !ok {
				return cty.NilVal, fmt.Errorf("%s: bare `local`", at(tr.SourceRange()))
			}
			v, err := m.Local(name)
			if err != nil {
				return cty.NilVal, err
			}
			locals[name] = v
		case "data":
			typ, ok1 := step(tr, 1)
			name, ok2 := step(tr, 2)
			if !ok1 || !ok2 {
				return cty.NilVal, fmt.Errorf("%s: incomplete data source reference", at(tr.SourceRange()))
			}
			v, ok := m.in.Data[typ+"."+name]
			if !ok {
				v = cty.DynamicVal
			}
			if data[typ] == nil {
				data[typ] = map[string]cty.Value{}
			}
			data[typ][name] = v
		case "each", "count":
			return cty.NilVal, fmt.Errorf("%s: %s is only known inside a resource", at(tr.SourceRange()), root)
		default:
			// Resources, modules, path, terraform: known only to an apply.
			ctx.Variables[root] = cty.DynamicVal
		}
	}
	if len(locals) > 0 {
		ctx.Variables["local"] = cty.ObjectVal(locals)
	}
	if len(data) > 0 {
		d := map[string]cty.Value{}
		for typ, names := range data {
			d[typ] = cty.ObjectVal(names)
		}
		ctx.Variables["data"] = cty.ObjectVal(d)
	}
	v, diags := expr.Value(ctx)
	if diags.HasErrors() {
		return cty.NilVal, fmt.Errorf("%s", diags.Error())
	}
	return v, nil
}

func step(tr hcl.Traversal, i int) (string, bool) {
	if len(tr) <= i {
		return "", false
	}
	switch s := tr[i].(type) {
	case hcl.TraverseAttr:
		return s.Name, true
	case hcl.TraverseIndex:
		if s.Key.Type() == cty.String {
			return s.Key.AsString(), true
		}
	}
	return "", false
}

func at(r hcl.Range) string { return fmt.Sprintf("%s:%d", r.Filename, r.Start.Line) }

// functions are the Terraform functions the platform's expressions use; an expression calling another one is an
// error naming the function (add it here), never a silent unknown.
func (m *Module) functions() map[string]function.Function {
	now := m.in.Now
	if now.IsZero() {
		now = time.Now()
	}
	timestamp := function.New(&function.Spec{
		Type: function.StaticReturnType(cty.String),
		Impl: func([]cty.Value, cty.Type) (cty.Value, error) {
			return cty.StringVal(now.UTC().Format(time.RFC3339)), nil
		},
	})
	return map[string]function.Function{
		"alltrue":       allTrue,
		"anytrue":       anyTrue,
		"can":           canFunc,
		"cidrhost":      cidrHost,
		"cidrnetmask":   cidrNetmask,
		"cidrsubnet":    cidrSubnet,
		"coalesce":      stdlib.CoalesceFunc,
		"concat":        stdlib.ConcatFunc,
		"contains":      stdlib.ContainsFunc,
		"distinct":      stdlib.DistinctFunc,
		"flatten":       stdlib.FlattenFunc,
		"format":        stdlib.FormatFunc,
		"formatdate":    stdlib.FormatDateFunc,
		"join":          stdlib.JoinFunc,
		"jsonencode":    stdlib.JSONEncodeFunc,
		"keys":          stdlib.KeysFunc,
		"length":        stdlib.LengthFunc,
		"lookup":        stdlib.LookupFunc,
		"lower":         stdlib.LowerFunc,
		"merge":         stdlib.MergeFunc,
		"plantimestamp": timestamp,
		"regex":         stdlib.RegexFunc,
		"replace":       stdlib.ReplaceFunc,
		"split":         stdlib.SplitFunc,
		"timecmp":       timeCmp,
		"timestamp":     timestamp,
		"tolist":        convertFunc(cty.List(cty.DynamicPseudoType)),
		"tomap":         convertFunc(cty.Map(cty.DynamicPseudoType)),
		"tonumber":      convertFunc(cty.Number),
		"toset":         convertFunc(cty.Set(cty.DynamicPseudoType)),
		"tostring":      convertFunc(cty.String),
		"trimprefix":    stdlib.TrimPrefixFunc,
		"trimsuffix":    stdlib.TrimSuffixFunc,
		"upper":         stdlib.UpperFunc,
		"values":        stdlib.ValuesFunc,
	}
}

var allTrue = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "list", Type: cty.List(cty.Bool)}},
	Type:   function.StaticReturnType(cty.Bool),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		out := cty.True
		for it := args[0].ElementIterator(); it.Next(); {
			_, v := it.Element()
			if !v.IsKnown() {
				return cty.UnknownVal(cty.Bool), nil
			}
			if v.IsNull() || v.False() {
				out = cty.False
			}
		}
		return out, nil
	},
})

var anyTrue = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "list", Type: cty.List(cty.Bool)}},
	Type:   function.StaticReturnType(cty.Bool),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		for it := args[0].ElementIterator(); it.Next(); {
			_, v := it.Element()
			if v.IsKnown() && !v.IsNull() && v.True() {
				return cty.True, nil
			}
		}
		return cty.False, nil
	},
})

// canFunc is Terraform's can(): true when its argument evaluates without error. The argument arrives
// unevaluated (an expression closure), as in Terraform, so a failing expression is false, not an error.
var canFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "expression", Type: customdecode.ExpressionClosureType}},
	Type:   function.StaticReturnType(cty.Bool),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		v, diags := customdecode.ExpressionClosureFromVal(args[0]).Value()
		if diags.HasErrors() {
			// A function this evaluator does not implement is not the expression failing: say so instead of
			// answering false (Terraform would know the function).
			for _, d := range diags {
				if d.Summary == "Call to unknown function" {
					return cty.NilVal, fmt.Errorf("can(): %s", d.Detail)
				}
			}
			return cty.False, nil
		}
		if !v.IsWhollyKnown() {
			return cty.UnknownVal(cty.Bool), nil
		}
		return cty.True, nil
	},
})

func convertFunc(ty cty.Type) function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "v", Type: cty.DynamicPseudoType, AllowNull: true}},
		Type:   function.StaticReturnType(ty),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			return convert.Convert(args[0], ty)
		},
	})
}

var timeCmp = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "a", Type: cty.String}, {Name: "b", Type: cty.String}},
	Type:   function.StaticReturnType(cty.Number),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		a, err := time.Parse(time.RFC3339, args[0].AsString())
		if err != nil {
			return cty.NilVal, function.NewArgError(0, err)
		}
		b, err := time.Parse(time.RFC3339, args[1].AsString())
		if err != nil {
			return cty.NilVal, function.NewArgError(1, err)
		}
		return cty.NumberIntVal(int64(a.Compare(b))), nil
	},
})

// Strings flattens a known value into path -> string for every primitive leaf ("roles.flyte" -> "arn:..."); an
// unknown leaf maps to "" and is listed in unknown.
func Strings(v cty.Value) (leaves map[string]string, unknown []string) {
	leaves = map[string]string{}
	var walk func(prefix string, v cty.Value)
	walk = func(prefix string, v cty.Value) {
		switch {
		case !v.IsKnown():
			unknown = append(unknown, prefix)
			leaves[prefix] = ""
		case v.IsNull():
			leaves[prefix] = ""
		case v.Type().IsObjectType() || v.Type().IsMapType():
			for it := v.ElementIterator(); it.Next(); {
				k, e := it.Element()
				walk(join(prefix, k.AsString()), e)
			}
		case v.Type() == cty.String:
			leaves[prefix] = v.AsString()
		case v.Type() == cty.Number:
			leaves[prefix] = v.AsBigFloat().Text('f', -1)
		case v.Type() == cty.Bool:
			leaves[prefix] = fmt.Sprint(v.True())
		default:
			s, _ := convert.Convert(v, cty.String)
			if s.IsKnown() && !s.IsNull() {
				leaves[prefix] = s.AsString()
			}
		}
	}
	walk("", v)
	sort.Strings(unknown)
	return leaves, unknown
}

func join(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}

// cidrHost is Terraform's cidrhost(prefix, hostnum): the address hostnum of the prefix (negative counts from the
// end), an error when it is outside the prefix.
var cidrHost = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "prefix", Type: cty.String}, {Name: "hostnum", Type: cty.Number}},
	Type:   function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		p, err := netip.ParsePrefix(args[0].AsString())
		if err != nil {
			return cty.NilVal, fmt.Errorf("invalid CIDR expression: %w", err)
		}
		n, acc := args[1].AsBigFloat().Int64()
		if acc != big.Exact {
			return cty.NilVal, fmt.Errorf("hostnum must be a whole number")
		}
		p = p.Masked()
		bits := p.Addr().BitLen() - p.Bits()
		size := new(big.Int).Lsh(big.NewInt(1), uint(bits))
		num := big.NewInt(n)
		if n < 0 {
			num.Add(num, size)
		}
		if num.Sign() < 0 || num.Cmp(size) >= 0 {
			return cty.NilVal, fmt.Errorf("prefix of %d bits cannot accommodate a host numbered %d", p.Bits(), n)
		}
		addr := new(big.Int).SetBytes(p.Addr().AsSlice())
		addr.Add(addr, num)
		b := addr.FillBytes(make([]byte, len(p.Addr().AsSlice())))
		out, _ := netip.AddrFromSlice(b)
		return cty.StringVal(out.String()), nil
	},
})

// cidrSubnet is Terraform's cidrsubnet(prefix, newbits, netnum): the netnum-th subnet of the prefix extended by
// newbits bits; an error when the subnet does not fit.
var cidrSubnet = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "prefix", Type: cty.String}, {Name: "newbits", Type: cty.Number}, {Name: "netnum", Type: cty.Number}},
	Type:   function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		p, err := netip.ParsePrefix(args[0].AsString())
		if err != nil {
			return cty.NilVal, fmt.Errorf("invalid CIDR expression: %w", err)
		}
		newbits, acc1 := args[1].AsBigFloat().Int64()
		netnum, acc2 := args[2].AsBigFloat().Int64()
		if acc1 != big.Exact || acc2 != big.Exact {
			return cty.NilVal, fmt.Errorf("newbits and netnum must be whole numbers")
		}
		p = p.Masked()
		bits := p.Bits() + int(newbits)
		if newbits < 0 || bits > p.Addr().BitLen() {
			return cty.NilVal, fmt.Errorf("insufficient address space to extend prefix of %d by %d", p.Bits(), newbits)
		}
		if netnum < 0 || big.NewInt(netnum).Cmp(new(big.Int).Lsh(big.NewInt(1), uint(newbits))) >= 0 {
			return cty.NilVal, fmt.Errorf("prefix extension of %d does not accommodate a subnet numbered %d", newbits, netnum)
		}
		addr := new(big.Int).SetBytes(p.Addr().AsSlice())
		addr.Add(addr, new(big.Int).Lsh(big.NewInt(netnum), uint(p.Addr().BitLen()-bits)))
		b := addr.FillBytes(make([]byte, len(p.Addr().AsSlice())))
		out, _ := netip.AddrFromSlice(b)
		return cty.StringVal(netip.PrefixFrom(out, bits).String()), nil
	},
})

// cidrNetmask is Terraform's cidrnetmask(prefix) for IPv4 prefixes.
var cidrNetmask = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "prefix", Type: cty.String}},
	Type:   function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		p, err := netip.ParsePrefix(args[0].AsString())
		if err != nil {
			return cty.NilVal, fmt.Errorf("invalid CIDR expression: %w", err)
		}
		if !p.Addr().Is4() {
			return cty.NilVal, fmt.Errorf("IPv6 addresses cannot have a netmask: %s", args[0].AsString())
		}
		m := net.CIDRMask(p.Bits(), 32)
		return cty.StringVal(net.IP(m).String()), nil
	},
})
