package shape

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// variable is one `variable` block of the root module.
type variable struct {
	name     string
	typ      cty.Type
	defaults *typeexpr.Defaults
	def      hcl.Expression // nil when the variable has no default
	decl     hcl.Range
}

// module is the root module's variables and one environment's tfvars, read without any provider.
type module struct {
	dir    string
	vars   map[string]*variable
	tfvars map[string]*hcl.Attribute
}

var variableSchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "variable", LabelNames: []string{"name"}}}}

var variableBodySchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "type"}, {Name: "default"}}}

// readModule parses every *.tf file in dir for variable blocks, and tfvarsPath when it is not empty.
func readModule(dir, tfvarsPath string) (*module, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	if len(files) == 0 {
		return nil, &Error{File: dir, Msg: "no *.tf files: not a Terraform root module"}
	}
	sort.Strings(files)
	p := hclparse.NewParser()
	m := &module{dir: dir, vars: map[string]*variable{}, tfvars: map[string]*hcl.Attribute{}}
	for _, path := range files {
		f, diags := p.ParseHCLFile(path)
		if diags.HasErrors() {
			return nil, diagError(diags, path, "")
		}
		content, _, diags := f.Body.PartialContent(variableSchema)
		if diags.HasErrors() {
			return nil, diagError(diags, path, "")
		}
		for _, b := range content.Blocks {
			v, err := readVariable(b)
			if err != nil {
				return nil, err
			}
			m.vars[v.name] = v
		}
	}
	if tfvarsPath == "" {
		return m, nil
	}
	src, err := os.ReadFile(tfvarsPath)
	if err != nil {
		return nil, fmt.Errorf("read tfvars: %w", err)
	}
	f, diags := p.ParseHCL(src, tfvarsPath)
	if diags.HasErrors() {
		return nil, diagError(diags, tfvarsPath, "")
	}
	attrs, diags := f.Body.JustAttributes()
	if diags.HasErrors() {
		return nil, diagError(diags, tfvarsPath, "")
	}
	for name, a := range attrs {
		if _, ok := m.vars[name]; !ok {
			return nil, errAt(a.NameRange, name, "no variable %q is declared in %s", name, dir)
		}
		m.tfvars[name] = a
	}
	return m, nil
}

func readVariable(b *hcl.Block) (*variable, error) {
	name := b.Labels[0]
	content, _, diags := b.Body.PartialContent(variableBodySchema)
	if diags.HasErrors() {
		return nil, diagError(diags, b.DefRange.Filename, name)
	}
	v := &variable{name: name, typ: cty.DynamicPseudoType, decl: b.DefRange}
	if a, ok := content.Attributes["type"]; ok {
		ty, defaults, diags := typeexpr.TypeConstraintWithDefaults(a.Expr)
		if diags.HasErrors() {
			return nil, diagError(diags, b.DefRange.Filename, name+".type")
		}
		v.typ, v.defaults = ty, defaults
	}
	if a, ok := content.Attributes["default"]; ok {
		v.def = a.Expr
	}
	return v, nil
}

// value evaluates a variable as Terraform would: the tfvars value if set, else the default, with optional()
// defaults applied and converted to the declared type. It returns the expression the value came from, so later
// errors can point into it.
func (m *module) value(name string) (cty.Value, hcl.Expression, error) {
	v, ok := m.vars[name]
	if !ok {
		return cty.NilVal, nil, &Error{File: m.dir, Field: name, Msg: fmt.Sprintf("variable %q is not declared in any *.tf file", name)}
	}
	expr := v.def
	if a, ok := m.tfvars[name]; ok {
		expr = a.Expr
	}
	if expr == nil {
		return cty.NilVal, nil, errAt(v.decl, name, "variable has no default and the tfvars file does not set it")
	}
	// Plain data only: no variables, locals or functions in these values.
	val, diags := expr.Value(nil)
	if diags.HasErrors() {
		return cty.NilVal, nil, diagError(diags, expr.Range().Filename, name)
	}
	if v.defaults != nil {
		val = v.defaults.Apply(val)
	}
	converted, err := convert.Convert(val, v.typ)
	if err != nil {
		path, err := narrow(val, v.typ, nil)
		return cty.NilVal, nil, errAt(rangeOf(expr, path), name+pathString(path), "does not match the declared type: %s", errMsg(err))
	}
	return converted, expr, nil
}

// narrow finds the innermost part of val that does not convert to ty, and the conversion error there.
func narrow(val cty.Value, ty cty.Type, path cty.Path) (cty.Path, error) {
	_, err := convert.Convert(val, ty)
	if err == nil || val.IsNull() || !val.IsKnown() {
		return path, err
	}
	if pe, ok := err.(cty.PathError); ok {
		return append(path, pe.Path...), pe
	}
	vt := val.Type()
	switch {
	case (ty.IsMapType() || ty.IsListType() || ty.IsSetType()) && val.CanIterateElements():
		for it := val.ElementIterator(); it.Next(); {
			k, e := it.Element()
			if _, cerr := convert.Convert(e, ty.ElementType()); cerr != nil {
				return narrow(e, ty.ElementType(), append(path, cty.IndexStep{Key: k}))
			}
		}
	case ty.IsObjectType() && (vt.IsObjectType() || vt.IsMapType()):
		for attr, at := range ty.AttributeTypes() {
			if vt.IsObjectType() && !vt.HasAttribute(attr) {
				continue
			}
			var e cty.Value
			switch {
			case vt.IsObjectType():
				e = val.GetAttr(attr)
			case val.HasIndex(cty.StringVal(attr)).True():
				e = val.Index(cty.StringVal(attr))
			default:
				continue
			}
			if _, cerr := convert.Convert(e, at); cerr != nil {
				return narrow(e, at, append(path, cty.GetAttrStep{Name: attr}))
			}
		}
	}
	return path, err
}

// str evaluates a variable of type string.
func (m *module) str(name string) (string, error) {
	val, expr, err := m.value(name)
	if err != nil {
		return "", err
	}
	if val.IsNull() || !val.Type().Equals(cty.String) {
		return "", errAt(expr.Range(), name, "must be a non-null string")
	}
	return val.AsString(), nil
}

func errMsg(err error) string {
	if pe, ok := err.(cty.PathError); ok {
		return pe.Error()
	}
	return err.Error()
}

// pathString renders a cty.Path as .key[0].attr.
func pathString(p cty.Path) string {
	s := ""
	for _, step := range p {
		switch st := step.(type) {
		case cty.GetAttrStep:
			s += "." + st.Name
		case cty.IndexStep:
			if st.Key.Type() == cty.String {
				s += "." + st.Key.AsString()
			} else {
				bf := st.Key.AsBigFloat()
				i, _ := bf.Int64()
				s += "[" + strconv.FormatInt(i, 10) + "]"
			}
		}
	}
	return s
}

// rangeOf finds the source range of the value at path inside a literal expression, or the closest enclosing one.
func rangeOf(expr hcl.Expression, path cty.Path) hcl.Range {
	rng := expr.Range()
	for _, step := range path {
		var key string
		index := -1
		switch st := step.(type) {
		case cty.GetAttrStep:
			key = st.Name
		case cty.IndexStep:
			if st.Key.Type() == cty.String {
				key = st.Key.AsString()
			} else {
				i, _ := st.Key.AsBigFloat().Int64()
				index = int(i)
			}
		}
		next := child(expr, key, index)
		if next == nil {
			return rng
		}
		expr, rng = next, next.Range()
	}
	return rng
}

func child(expr hcl.Expression, key string, index int) hcl.Expression {
	switch e := expr.(type) {
	case *hclsyntax.ObjectConsExpr:
		for _, item := range e.Items {
			k, diags := item.KeyExpr.Value(nil)
			if diags.HasErrors() || k.Type() != cty.String {
				continue
			}
			if k.AsString() == key {
				return item.ValueExpr
			}
		}
	case *hclsyntax.TupleConsExpr:
		if index >= 0 && index < len(e.Exprs) {
			return e.Exprs[index]
		}
	}
	return nil
}
