package policy

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/shape"
)

// variableValidations evaluates every validation block of every root-module variable with the environment's
// values (tfvars over defaults), as `terraform plan` does before anything else: a region set without its zones,
// an expires_at that is not a timestamp, fail here naming the variable's file and line and its error_message.
func variableValidations(m *module, _ *shape.Shape, now time.Time) []string {
	tf, err := m.eval(now)
	if err != nil {
		return []string{err.Error()}
	}
	vars := map[string]cty.Value{}
	for k, v := range m.vars {
		vars[k] = v
	}
	scope := map[string]cty.Value{"var": cty.ObjectVal(vars)}
	var v []string
	for _, b := range m.blocks {
		if b.Type != "variable" || len(b.Labels) == 0 || filepath.Dir(b.DefRange().Filename) != filepath.Clean(m.dir) {
			continue
		}
		for _, val := range b.nested("validation") {
			cond, ok := val.Body.Attributes["condition"]
			if !ok {
				continue
			}
			msg, _ := val.attr("error_message")
			msg = strings.Trim(msg, `"`)
			res, err := tf.Eval(cond.Expr, scope)
			switch {
			case err != nil:
				v = append(v, fmt.Sprintf("%s: var.%s: validation condition does not evaluate: %v", at(cond.Range()), b.Labels[0], err))
			case !res.IsKnown():
				// Depends on something only an apply knows: plan would say the same.
			case res.IsNull() || res.Type() != cty.Bool:
				v = append(v, fmt.Sprintf("%s: var.%s: validation condition is not a bool", at(cond.Range()), b.Labels[0]))
			case res.False():
				v = append(v, fmt.Sprintf("%s: var.%s fails its validation for this environment: %s", at(cond.Range()), b.Labels[0], msg))
			}
		}
	}
	return v
}
