package check

import (
	"time"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/check/policy"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/platform"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
)

// Policies runs the static Terraform policies (no provider) over the platform model and returns one result per
// policy.
func Policies(p *platform.Platform, now time.Time) []result.Result {
	t0 := time.Now()
	fs, err := policy.Policies(p, now)
	if err != nil {
		return []result.Result{result.Fail("policy", nil, "%v", err)}
	}
	out := make([]result.Result, 0, len(fs))
	for _, f := range fs {
		r := result.Pass("policy/"+f.Policy, "%s", f.Checked)
		if len(f.Violations) > 0 {
			r = result.Fail("policy/"+f.Policy, f.Violations, "%d violation(s): %s", len(f.Violations), f.Checked)
		}
		r.Duration = time.Since(t0)
		out = append(out, r)
	}
	return out
}
