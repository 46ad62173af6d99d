// Package wiring checks what connects Terraform, the charts and the workflows, statically (no cluster, no
// provider): the IAM roles workloads assume and the service accounts that really exist (wiring/identity), the
// names the GitOps side takes from Terraform (wiring/names), the databases components are configured for
// (wiring/database), and the arguments the platform passes to upstream components (wiring/args).
//
// Terraform is evaluated, not pattern-matched, where it can be: trust subjects, role names and bucket names are
// computed from the HCL by package tfeval with the environment's variables; the charts are the real upstream
// charts rendered with the platform's values.
package wiring

import (
	"fmt"
	"strings"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/deploy"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/platform"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/tfeval"
)

// Chart is one upstream Application's chart as rendered with the platform's values.
type Chart struct {
	App     deploy.App
	Objects []deploy.Object
	// Values are the values it rendered with (the Application's over the chart's defaults).
	Values map[string]any
}

// Input is what the wiring checks read: the platform model, the rendered upstream charts, and the Applications
// whose charts could not be rendered (with the reason).
type Input struct {
	Platform *platform.Platform
	Charts   []Chart
	Skipped  []string
	Now      time.Time
	// KarpenterAWS is true when the run's karpenter step runs the real Karpenter AWS provider: it then judges how
	// the EC2NodeClasses resolve against what Terraform creates (discovery tags on subnets and the security group,
	// the selectors, the zones, the NodePools' node classes), and wiring/karpenter leaves those to it.
	KarpenterAWS bool
}

// Check runs every wiring check.
func Check(in Input) []result.Result {
	t0 := time.Now()
	tree, err := loadTree(in.Platform, in.Now)
	var out []result.Result
	for _, c := range []struct {
		name string
		run  func(Input, *tfeval.Tree) result.Result
		// charts: the check reads the rendered upstream charts (an unrendered one leaves part of it unchecked).
		charts bool
	}{
		{"wiring/identity", identity, true},
		{"wiring/names", names, false},
		{"wiring/database", database, true},
		{"wiring/args", args, true},
		{"wiring/karpenter", karpenterWiring, false},
	} {
		var r result.Result
		if err != nil {
			r = result.Fail(c.name, nil, "%v", err)
		} else {
			r = c.run(in, tree)
		}
		r.Duration = time.Since(t0)
		out = append(out, r)
		// What the unrendered charts would have contributed is its own result: skipped, never part of a pass.
		if err == nil && c.charts && r.Status == result.Passed && len(in.Skipped) > 0 {
			out = append(out, result.SkippedPart(c.name, in.Skipped))
		}
	}
	return out
}

// loadTree evaluates terraform/ for the platform's environment with the account the bridge was computed for.
func loadTree(p *platform.Platform, now time.Time) (*tfeval.Tree, error) {
	var files []tfeval.File
	for _, f := range p.Terraform.Files {
		files = append(files, tfeval.File{Path: f.Path, Data: f.Data})
	}
	return tfeval.LoadTree(p.Terraform.Dir, files, tfeval.Inputs{
		Vars: p.Vars,
		Data: map[string]cty.Value{
			"aws_caller_identity.current": cty.ObjectVal(map[string]cty.Value{"account_id": cty.StringVal(account(p))}),
			"aws_partition.current":       cty.ObjectVal(map[string]cty.Value{"partition": cty.StringVal("aws")}),
		},
		Now: now,
	})
}

func account(p *platform.Platform) string {
	if a := p.Bridge.Leaves["accountId"]; a != "" {
		return a
	}
	return platform.EmulatorAccount
}

// objects is every object the platform would create: in-repo charts, workflows, and the rendered upstream charts.
func (in Input) objects() []deploy.Object {
	out := append([]deploy.Object(nil), in.Platform.Objects...)
	for _, c := range in.Charts {
		out = append(out, c.Objects...)
	}
	return out
}

// verdict turns violations into a result. With charts that could not be rendered, a clean run passes for the
// rendered ones only and says so; Check adds the skipped result for the rest (SkippedPart).
func verdict(name string, violations []string, skipped []string, passMsg string, args ...any) result.Result {
	if len(violations) > 0 {
		return result.Fail(name, violations, "%d violation(s): %s", len(violations), violations[0])
	}
	r := result.Pass(name, passMsg, args...)
	if len(skipped) > 0 {
		r.Message += "; " + result.ScopeNote(skipped)
	}
	return r
}

// skippedText summarises the charts that could not be rendered: which, and the first reason.
func skippedText(skipped []string) string {
	var apps []string
	for _, s := range skipped {
		app, _, _ := strings.Cut(s, ":")
		apps = append(apps, app)
	}
	_, first, _ := strings.Cut(skipped[0], ": ")
	return fmt.Sprintf("%d chart(s) not rendered, so not everything could be checked (%s): %s", len(skipped), strings.Join(apps, ", "), first)
}
