package infra

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/gruntwork-io/terratest/modules/logger"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cloud"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/platform"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/report"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/shape"
)

// TierOptions configure the apply tier, run as one call by `harness apply`, `harness check --apply` and the
// nightly real-AWS test.
type TierOptions struct {
	// Platform is the model of the environment: its Terraform root module is applied (a copy), its static shape
	// is what the applied node groups refine.
	Platform *platform.Platform
	// Cloud is the AWS backend, not started: ApplyTier starts it after init and stops it at the end.
	Cloud cloud.Cloud
	// Binary, CLIConfig, Profile, AllowedAccount and Vars are as in ApplyOptions. With the aws backend,
	// AllowedAccount is required: Terraform itself then refuses any other account.
	Binary, CLIConfig       string
	Profile, AllowedAccount string
	Vars                    map[string]any
	// Progress receives one line per phase; nil discards.
	Progress io.Writer
	// While, when set, runs with the infrastructure up — after apply and the empty second plan, before destroy
	// (the nightly's tests on real EKS). Its error fails the tier; destroy runs whatever it returned.
	While func(ctx context.Context, up *Up) error
}

// Up is the infrastructure while it exists.
type Up struct {
	// Outputs are the root module's outputs.
	Outputs map[string]any
	// Shape is the static shape with the applied node groups (and the applied cluster name, when output).
	Shape *shape.Shape
	// Bridge is the GitOps Bridge the apply output (gitops_metadata): the names, roles and database the charts
	// and workflows get on this infrastructure (platform.LoadWith).
	Bridge *platform.Bridge
	// Cloud is the started backend (its Config reaches the applied resources).
	Cloud cloud.Cloud
	// Dir is the temporary copy of the module (and its state).
	Dir string
	// Teardown destroys it; stages that must run before destroy (workloads holding load balancers or volumes)
	// are added to it.
	Teardown *Teardown
}

// TierName is the result's name.
const TierName = "apply-tier"

// Outcome is what the apply tier did; check.ApplyTier judges it. The zero Outcome with an error is no outcome.
type Outcome struct {
	// Skipped says why it could not run (Terraform or its AWS provider not installable): nothing was created.
	Skipped string
	// Target is where it applied (the emulator's endpoint, or "real AWS"); Outputs the root module's output names.
	Target  string
	Outputs []string
	// Duration is the whole tier's, destroy included (ApplyTier only).
	Duration time.Duration
}

// ApplyTier runs init → start the AWS backend → apply → outputs → plan (no changes) → [While] → destroy → stop,
// and returns what it did and, when it ran, the shape AWS created (the applied node groups). A provider or binary
// that cannot be installed is a skipped Outcome, decided before any backend starts; a failed apply, plan,
// While or destroy is an error. A failed destroy keeps the copy and its state and says where.
func ApplyTier(ctx context.Context, o TierOptions) (res Outcome, applied *shape.Shape, err error) {
	t0 := time.Now()
	up, td, res, err := Bring(ctx, o)
	if td != nil {
		// Destroy always, on a context of its own: a cancelled or timed-out run must still remove what it made.
		defer func() {
			if derr := td.Run(time.Hour); derr != nil {
				err = errors.Join(err, fmt.Errorf("apply tier: %w", derr))
			}
			if err != nil {
				res, applied = Outcome{}, nil // the error is the outcome
			} else {
				res.Duration = time.Since(t0) // destroy included
			}
		}()
	}
	if err != nil || up == nil {
		return res, nil, err
	}
	if o.While != nil {
		if err := o.While(ctx, up); err != nil {
			return res, nil, fmt.Errorf("apply tier: %w", err)
		}
	}
	return res, up.Shape, nil
}

// Bring is the first half of the apply tier: init → start the AWS backend → apply → outputs → plan (no
// changes). It returns the infrastructure and its Teardown — non-nil as soon as anything may exist, even with an
// error: the caller must Run it (the nightly registers it with t.Cleanup before anything else). A provider or
// binary that cannot be installed is a skipped Outcome with no Up and no Teardown.
func Bring(ctx context.Context, o TierOptions) (up *Up, td *Teardown, res Outcome, err error) {
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Cloud.Name() == "aws" && o.AllowedAccount == "" {
		return nil, nil, res, errors.New("apply tier on real AWS needs the allowed account (--aws-account / HARNESS_AWS_ACCOUNT)")
	}
	// Terratest's retry loop logs through a process-wide logger; the harness reports through its own lines.
	logger.Default = logger.Discard
	static := o.Platform.Static
	ao := ApplyOptions{Source: platform.TerraformDir(o.Platform.Root), Env: o.Platform.Env, Binary: o.Binary, CLIConfig: o.CLIConfig,
		Region: static.Region, Vars: o.Vars, Emulator: o.Cloud.Name() != "aws"}
	if o.Cloud.Name() == "aws" { // Terraform uses the credentials the account check used, and refuses other accounts
		ao.Profile, ao.AllowedAccount = o.Profile, o.AllowedAccount
	}
	// Init first: where the provider cannot be installed, skip before starting (or installing) an emulator.
	ws, err := Prepare(ctx, ao)
	if err != nil {
		var skip *SkipError
		if errors.As(err, &skip) {
			return nil, nil, Outcome{Skipped: skip.Reason}, nil
		}
		return nil, nil, res, err
	}
	if err := report.Begin(o.Progress, "start AWS backend "+o.Cloud.Name()).End(o.Cloud.Start(ctx)); err != nil {
		// Nothing was applied: only the copy goes (a destroy without the backend would aim at the wrong place).
		return nil, nil, res, errors.Join(err, ws.Close())
	}
	td = NewTeardown(ws, o.Cloud, o.Progress)
	target := o.Cloud.Endpoint()
	if target == "" {
		target = "real AWS"
	}
	step := report.Begin(o.Progress, "apply tier: init done; apply, plan (no changes) against "+target)
	up, err = func() (*Up, error) {
		out, err := ws.Up(ctx, o.Cloud.Endpoint())
		if err != nil {
			return nil, err
		}
		// What AWS created is the shape to emulate from here on.
		applied, err := static.WithAppliedNodeGroups(out.Outputs["node_groups"])
		if err != nil {
			return nil, err
		}
		if name, ok := out.Outputs["cluster_name"].(string); ok && name != "" {
			applied.ClusterName = name
		}
		// The GitOps side reads what Terraform output: it must be what the static checks judged.
		bridge, err := appliedBridge(o.Platform, out.Outputs)
		if err != nil {
			return nil, err
		}
		keys := make([]string, 0, len(out.Outputs))
		for k := range out.Outputs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		res = Outcome{Target: target, Outputs: keys}
		return &Up{Outputs: out.Outputs, Shape: applied, Bridge: bridge, Cloud: o.Cloud, Dir: ws.Dir(), Teardown: td}, nil
	}()
	if err := step.End(err); err != nil {
		return nil, td, Outcome{}, fmt.Errorf("apply tier: %w", err)
	}
	return up, td, res, nil
}

// appliedBridge reads the gitops_metadata output and compares it with the bridge the static checks used.
func appliedBridge(p *platform.Platform, outputs map[string]any) (*platform.Bridge, error) {
	raw, ok := outputs[platform.BridgeLocal]
	if !ok {
		return nil, fmt.Errorf("no %s output: the GitOps side would get no names (terraform/gitops.tf)", platform.BridgeLocal)
	}
	b, err := platform.NewBridgeJSON(raw)
	if err != nil {
		return nil, err
	}
	if p.Bridge != nil {
		if diffs := p.Bridge.Diff(b); len(diffs) > 0 {
			return nil, fmt.Errorf("the GitOps Bridge Terraform output differs from what the charts were checked with (%s):\n  %s", p.Bridge.Source, strings.Join(diffs, "\n  "))
		}
	}
	return b, nil
}
