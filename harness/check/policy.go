package check

import (
	"path/filepath"
	"time"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/infra"
)

// Policies runs the static Terraform policies (no provider) and returns one result per policy.
func Policies(root, env string, now time.Time) []Result {
	t0 := time.Now()
	fs, err := infra.Policies(filepath.Join(root, "terraform"), env, now)
	if err != nil {
		return []Result{fail("policy", nil, "%v", err)}
	}
	out := make([]Result, 0, len(fs))
	for _, f := range fs {
		r := pass("policy/"+f.Policy, "%s", f.Checked)
		if len(f.Violations) > 0 {
			r = fail("policy/"+f.Policy, f.Violations, "%d violation(s): %s", len(f.Violations), f.Checked)
		}
		r.Duration = time.Since(t0)
		out = append(out, r)
	}
	return out
}
