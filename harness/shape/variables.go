package shape

import (
	"path/filepath"

	"github.com/zclconf/go-cty/cty"
)

// Variables evaluates every variable of the root module in dir for env (terraform/env/<env>.tfvars over the
// defaults, optional() defaults applied, converted to the declared types), as Terraform would before a plan.
// A variable with neither a default nor a tfvars value is left out.
func Variables(dir, env string) (map[string]cty.Value, error) {
	m, err := readModule(dir, filepath.Join(dir, "env", env+".tfvars"))
	if err != nil {
		return nil, err
	}
	out := make(map[string]cty.Value, len(m.vars))
	for name, v := range m.vars {
		if _, set := m.tfvars[name]; !set && v.def == nil {
			continue
		}
		val, _, err := m.value(name)
		if err != nil {
			return nil, err
		}
		out[name] = val
	}
	return out, nil
}
