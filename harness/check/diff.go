package check

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/change"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/deploy"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/engine"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
)

// DiffRun is a change rehearsed over its base on one cluster (`harness diff`).
type DiffRun struct {
	// Base and Head are the two revisions' environments on the same cluster: the base (what runs) and the change.
	Base, Head *engine.Env
	// BaseRev and HeadRev name them in the report.
	BaseRev, HeadRev string
	ArgoCD           engine.ArgoCD
	// Allowed are data-holding objects whose loss is declared meant (--allow-data-loss).
	Allowed []string
	// ChangeTimeout bounds the wait for the change's sync (default ArgoCD.Timeout): a change Argo CD cannot sync
	// is only known when it runs out.
	ChangeTimeout time.Duration
	Budget        Budget
	// CheckovVenv is checkov's virtualenv (empty: .venv-checkov under the change's root).
	CheckovVenv string
	Karpenter   *engine.KarpenterConfig
	// KubeRay is tools/kuberay's build for kuberay-validation (empty: skipped).
	KubeRay string
	// Checks are the steps run on the result after the transition is judged (nil: every step of `harness check`
	// but the CRDs and the deploy, which the change's sync is).
	Checks []Step
}

// Diff syncs the base through the real Argo CD and waits for it, records what runs, then syncs the change over it
// as Argo CD does after a merge, and judges the transition: the change's sync per Application (Argo CD's own
// errors, immutable fields among them), data loss, CRD stored versions, then every check of `harness check` but
// the deploy on the result. A base that does not sync is reported (as base/deploy/...) and nothing else is judged.
func Diff(ctx context.Context, d DiffRun, onResult func(result.Result)) (rev change.Review, err error) {
	t0 := time.Now()
	rev = change.Review{Env: d.Head.Platform.Env, Base: d.BaseRev, Head: d.HeadRev}
	emit := func(rs ...result.Result) {
		for _, r := range rs {
			rev.Results = append(rev.Results, r)
			if onResult != nil {
				onResult(r)
			}
		}
	}
	defer func() { rev.Took = time.Since(t0) }()
	rev.CostBase, rev.CostHead = change.CostOf(d.Base.Platform.Shape), change.CostOf(d.Head.Platform.Shape)
	rev.ShapeChanged = !slices.Equal(rev.CostBase.Groups, rev.CostHead.Groups)
	rb, _ := d.Base.RenderCharts(ctx)
	rh, _ := d.Head.RenderCharts(ctx)
	mb, err := change.Collect(d.Base.Platform, rb)
	if err != nil {
		return rev, fmt.Errorf("the base: %w", err)
	}
	mh, err := change.Collect(d.Head.Platform, rh)
	if err != nil {
		return rev, err
	}
	rev.Apps = change.Diff(mb, mh)

	if r := CRDs(d.Base.InstallCRDs(ctx)); r.Status == result.Failed {
		emit(r)
		return rev, nil
	}
	s, serr := d.Base.StartArgoCD(ctx, d.ArgoCD)
	if serr != nil {
		emit(Deploy(engine.Deployment{ArgoErr: serr})...)
		return rev, nil
	}
	defer s.Close()
	base := Deploy(s.Sync(ctx, d.Base))
	if result.AnyFailed(base) {
		for i := range base {
			base[i].Name = "base/" + base[i].Name
		}
		emit(base...)
		emit(result.Fail("diff", nil, "the base %s does not sync: the change cannot be judged over it", d.BaseRev))
		return rev, nil
	}
	before, err := d.Base.ObserveSettled(ctx, time.Minute)
	if err != nil {
		return rev, err
	}
	if d.ChangeTimeout > 0 {
		s.SetTimeout(d.ChangeTimeout)
	}
	budgets, err := d.Base.WatchBudgets(ctx)
	if err != nil {
		return rev, err
	}
	emit(Deploy(s.Sync(ctx, d.Head))...)
	after, err := d.Head.ObserveSettled(ctx, time.Minute)
	seen, werr := budgets.Stop()
	if err != nil {
		return rev, err
	}
	rev.Moves, rev.Replaced, rev.Drifts = change.Moves(before, after), change.Replaced(before, after), change.Drifts(mb, mh, before)
	emit(Landed(ctx, d.Head, rev.Apps, mh))
	emit(TransitionSteps(Transition{Before: before, After: after, Allowed: d.Allowed, Budgets: seen, WatchErr: werr, Replaced: rev.Replaced})...)
	s.Close() // the checks below start their own controllers; Argo CD has said what it had to
	checks := d.Checks
	if checks == nil {
		checks = Except(Steps(), PhaseDeploy, PhaseCRDs)
	}
	_, xerr := Execute(ctx, &Run{Env: d.Head, Budget: d.Budget, Karpenter: d.Karpenter, CheckovVenv: d.CheckovVenv, KubeRay: d.KubeRay}, checks, func(r result.Result) { emit(r) })
	return rev, xerr
}

// Landed judges whether the objects the change alters can be applied over what runs: each is applied again as
// Argo CD applies it (server-side, dry run). Argo CD may report an Application Synced and Healthy while the API
// server refuses such an object (an immutable field: a StatefulSet's or Deployment's selector, a StatefulSet's
// volumeClaimTemplates; argoproj/argo-cd#28722): the change would silently never be applied.
func Landed(ctx context.Context, e *engine.Env, apps []change.App, head change.Manifests) result.Result {
	const name = "diff/landed"
	var objs []deploy.Object
	owner := map[string]string{}
	for _, a := range apps {
		for _, k := range a.Changed {
			if o, ok := head[a.Name][k]; ok {
				objs = append(objs, o)
				owner[fmt.Sprintf("%s %s/%s", o.GetKind(), o.GetNamespace(), o.GetName())] = a.Name
			}
		}
	}
	if len(objs) == 0 {
		return result.Pass(name, "the change alters no rendered object")
	}
	refused, err := e.DryRunApply(ctx, objs)
	if err != nil {
		return result.Fail(name, nil, "%v", err)
	}
	if len(refused) > 0 {
		for i, r := range refused {
			for k, app := range owner {
				if strings.HasPrefix(r, k+":") {
					refused[i] = "Application " + app + ": " + r
				}
			}
		}
		return result.Fail(name, refused, "%d changed object(s) the API server refuses over the running one (whatever Argo CD reports, the change is not applied): %s", len(refused), refused[0])
	}
	return result.Pass(name, "%d changed object(s) accepted over the running ones (server-side apply, dry run)", len(objs))
}
