package tfeval

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// Tree is a root module and the local modules it calls (source = "./..."), each with its input variables
// evaluated from the call's arguments (unknown where the argument is known only after an apply) and its own
// defaults.
type Tree struct {
	Root *Module
	// Modules are the called modules, keyed by the module block's name.
	Modules map[string]*Module
}

// LoadTree loads the root module in dir and every local module it calls.
func LoadTree(dir string, files []File, in Inputs) (*Tree, error) {
	root, err := Load(dir, files, in)
	if err != nil {
		return nil, err
	}
	t := &Tree{Root: root, Modules: map[string]*Module{}}
	for _, b := range root.Blocks {
		if b.Type != "module" || len(b.Labels) != 1 {
			continue
		}
		src, ok := b.Body.Attributes["source"]
		if !ok {
			continue
		}
		sv, diags := src.Expr.Value(nil)
		if diags.HasErrors() || sv.Type() != cty.String || !strings.HasPrefix(sv.AsString(), "./") {
			continue
		}
		mdir := filepath.Join(dir, sv.AsString())
		vars, err := moduleVars(root, b, mdir, files)
		if err != nil {
			return nil, err
		}
		m, err := Load(mdir, files, Inputs{Vars: vars, Data: in.Data, Now: in.Now})
		if err != nil {
			return nil, err
		}
		t.Modules[b.Labels[0]] = m
	}
	return t, nil
}

// All is the root module then the called modules, by name.
func (t *Tree) All() []*Module {
	out := []*Module{t.Root}
	names := make([]string, 0, len(t.Modules))
	for n := range t.Modules {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		out = append(out, t.Modules[n])
	}
	return out
}

// moduleVars evaluates a module call's arguments in the caller, over the module's variable defaults, converted
// to the declared types.
func moduleVars(caller *Module, call *hclsyntax.Block, dir string, files []File) (map[string]cty.Value, error) {
	decl, err := Load(dir, files, Inputs{})
	if err != nil {
		return nil, err
	}
	out := map[string]cty.Value{}
	for _, b := range decl.Blocks {
		if b.Type != "variable" || len(b.Labels) != 1 {
			continue
		}
		name := b.Labels[0]
		ty, defaults := cty.DynamicPseudoType, (*typeexpr.Defaults)(nil)
		if a, ok := b.Body.Attributes["type"]; ok {
			t, d, diags := typeexpr.TypeConstraintWithDefaults(a.Expr)
			if diags.HasErrors() {
				return nil, fmt.Errorf("%s", diags.Error())
			}
			ty, defaults = t, d
		}
		val := cty.DynamicVal
		if a, ok := call.Body.Attributes[name]; ok {
			v, err := caller.Eval(a.Expr, nil)
			if err != nil {
				return nil, err
			}
			val = v
		} else if a, ok := b.Body.Attributes["default"]; ok {
			v, diags := a.Expr.Value(nil)
			if diags.HasErrors() {
				return nil, fmt.Errorf("%s", diags.Error())
			}
			val = v
		}
		if defaults != nil && val.IsWhollyKnown() {
			val = defaults.Apply(val)
		}
		if c, err := convert.Convert(val, ty); err == nil {
			val = c
		}
		out[name] = val
	}
	return out, nil
}
