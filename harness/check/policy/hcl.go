package policy

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/platform"
)

// block is one top-level block of a .tf file with its source.
type block struct {
	*hclsyntax.Block
	src []byte
}

// attr returns the attribute's expression source text, or "" when absent.
func (b block) attr(name string) (string, *hclsyntax.Attribute) {
	a, ok := b.Body.Attributes[name]
	if !ok {
		return "", nil
	}
	r := a.Expr.Range()
	return string(r.SliceBytes(b.src)), a
}

// nested returns the nested blocks of a type.
func (b block) nested(typ string) []block {
	var out []block
	for _, nb := range b.Body.Blocks {
		if nb.Type == typ {
			out = append(out, block{nb, b.src})
		}
	}
	return out
}

// at formats a position as file:line.
func at(r hcl.Range) string { return fmt.Sprintf("%s:%d", r.Filename, r.Start.Line) }

// module is every block of every .tf file under dir (root and modules), by "resource.TYPE", "module", ...
type module struct {
	dir    string
	blocks []block
	// files are every .tf and .tfvars file, as read into the platform model.
	files []platform.File
	// vars are the root module's variables for the environment (tfvars over defaults).
	vars map[string]cty.Value
	// networkPolicies are the NetworkPolicies the platform's charts render ("namespace/name"), for network-policy.
	networkPolicies []string
}

// readTerraform parses the Terraform sources the platform model holds (read once from terraform/). A file that
// does not parse is an error naming it.
func readTerraform(src platform.Sources) (*module, error) {
	m := &module{dir: src.Dir}
	for _, f := range src.Files {
		if !strings.HasSuffix(f.Path, ".tf") {
			continue
		}
		hf, diags := hclsyntax.ParseConfig(f.Data, f.Path, hcl.InitialPos)
		if diags.HasErrors() {
			return nil, fmt.Errorf("%s", diags.Error())
		}
		for _, b := range hf.Body.(*hclsyntax.Body).Blocks {
			m.blocks = append(m.blocks, block{b, f.Data})
		}
	}
	m.files = src.Files
	sort.SliceStable(m.blocks, func(i, j int) bool { return m.blocks[i].DefRange().Filename < m.blocks[j].DefRange().Filename })
	return m, nil
}

// resources returns the resource blocks of a type.
func (m *module) resources(typ string) []block {
	var out []block
	for _, b := range m.blocks {
		if b.Type == "resource" && len(b.Labels) == 2 && b.Labels[0] == typ {
			out = append(out, b)
		}
	}
	return out
}

// find returns the first block of the root module (not of modules/) with the type and leading labels.
func (m *module) find(typ string, labels ...string) (block, bool) {
	for _, b := range m.blocks {
		if filepath.Dir(b.DefRange().Filename) != filepath.Clean(m.dir) || b.Type != typ || len(b.Labels) < len(labels) {
			continue
		}
		match := true
		for i, l := range labels {
			match = match && b.Labels[i] == l
		}
		if match {
			return b, true
		}
	}
	return block{}, false
}
