package mutations

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/check"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cluster/embedded"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/engine"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/platform"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
)

// Config is one run of the corpus.
type Config struct {
	// Root is the repository the cases edit (a fresh copy per case).
	Root string
	Env  string
	// Charts are the pinned upstream charts (the chart directory or cache).
	Charts engine.Charts
	// CRDsDir are the generated CRDs (make crds); Karpenter the real controller (make karpenter), when built.
	CRDsDir   string
	Karpenter *engine.KarpenterConfig
	// KubeRay is tools/kuberay's build (make kuberay): the cluster phase runs KubeRay's own validation with it.
	KubeRay string
	// Cluster runs the cluster phase (an embedded cluster shaped by the case's Terraform: CRDs, Karpenter, the
	// probes and their verdicts, the API server's acceptance) for every case the static phase did not catch.
	Cluster bool
	// Checkov runs policy/checkov for every case (about 20 s each); otherwise only for the cases expecting it.
	Checkov bool
	// ArgoCD, when set (bin/argocd built), deploys the cases that expect a deploy verdict through the real Argo
	// CD, as `harness check`'s default path does; Dir is filled per case.
	ArgoCD *engine.ArgoCD
	Log    *slog.Logger
}

// Outcome is what the harness said about one case.
type Outcome struct {
	Case Case
	// Failed are the checks that failed, with their first line.
	Failed   []Finding
	Duration time.Duration
	// Err is a run that could not reach a verdict (not a finding): among them a mistake no check caught while a
	// check the case names was skipped or never reported (a deploy that could not run is not a miss).
	Err error
	// verdicts are every check's result of the run, by name (the last one when a name repeats).
	verdicts map[string]result.Result
}

// Finding is one check's verdict on a case.
type Finding struct {
	Check, Message string
}

// Caught reports whether the case's mistake made a check fail (any check; Expected says whether it was one the
// case names).
func (o Outcome) Caught() bool { return len(o.Failed) > 0 }

// Expected reports whether one of the checks the case names failed.
func (o Outcome) Expected() bool {
	for _, f := range o.Failed {
		for _, e := range o.Case.Expect {
			if matches(f.Check, e) {
				return true
			}
		}
	}
	return false
}

// matches reports whether the check named check is the one a case's expect entry e names ("deploy/" names every
// deploy/ check).
func matches(check, e string) bool {
	return check == e || strings.HasPrefix(check, e+" ") || (strings.HasSuffix(e, "/") && strings.HasPrefix(check, e))
}

// Correct: a mistake caught, or a harmless change passing.
func (o Outcome) Correct() bool { return o.Err == nil && o.Case.Mistake == o.Caught() }

// RunCase applies the case to a fresh copy of the repository and runs the default path's verdicts on it.
func RunCase(ctx context.Context, cfg Config, c Case) (out Outcome) {
	t0 := time.Now()
	out = Outcome{Case: c}
	defer func() { out.Duration = time.Since(t0) }()
	dir, err := os.MkdirTemp("", "mutation-*")
	if err != nil {
		out.Err = err
		return out
	}
	defer os.RemoveAll(dir)
	if err := c.Apply(cfg.Root, dir); err != nil {
		out.Err = err
		return out
	}
	// Loading the platform is the harness's first verdict: bad input is refused before anything starts.
	p, err := platform.Load(dir, cfg.Env)
	if err != nil {
		out.Failed = append(out.Failed, Finding{Check: "load", Message: firstLine(err.Error())})
		return out
	}
	e, err := engine.NewEnv(p, nil, cfg.Charts, cfg.CRDsDir)
	if err != nil {
		out.Err = err
		return out
	}
	run := &check.Run{Env: e}
	rs, err := check.Execute(ctx, run, staticSteps(cfg, c), nil)
	collect(&out, rs)
	if err != nil {
		out.Err = err
		return out
	}
	if !cfg.Cluster || (c.Mistake && out.Caught()) {
		return out
	}
	cl, err := embedded.New(embedded.Config{Shape: p.Shape, RunDir: dir, Logger: cfg.Log})
	if err != nil {
		out.Err = err
		return out
	}
	startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	err = cl.Start(startCtx)
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		_ = cl.Stop(stopCtx)
	}()
	if err != nil {
		out.Err = fmt.Errorf("start embedded cluster: %w", err)
		return out
	}
	// The cluster phase installs the in-repo charts (platform-config's namespaces, quotas and priority classes; the
	// NodePools) and judges every workload through the probes; the upstream charts, judged statically above (values,
	// wiring, checkov), are installed only for cases that expect a deploy verdict (a minute or more each).
	charts := engine.Charts{}
	if deploys(c) {
		charts = cfg.Charts
	}
	ce, err := engine.NewEnv(p, cl, charts, cfg.CRDsDir)
	if err != nil {
		out.Err = err
		return out
	}
	crun := &check.Run{Env: ce, Karpenter: cfg.Karpenter, KubeRay: cfg.KubeRay}
	if deploys(c) && cfg.ArgoCD != nil {
		a := *cfg.ArgoCD
		a.Dir = filepath.Join(dir, "argocd")
		if err := os.MkdirAll(a.Dir, 0o755); err != nil {
			out.Err = err
			return out
		}
		crun.ArgoCD = &a
	} else if deploys(c) {
		crun.HelmInstead = "bin/argocd is not built: make argocd"
	}
	rs, err = check.Execute(ctx, crun, clusterSteps(c), nil)
	collect(&out, rs)
	if err != nil {
		out.Err = err
		return out
	}
	// Nothing failed: a mistake missed, or a harmless change passing — unless what would judge it did not run.
	if !out.Caught() {
		if why := unjudged(out); why != "" {
			out.Err = fmt.Errorf("nothing failed, but %s", why)
		}
	}
	return out
}

// unjudged says which of the checks a case names gave no verdict on a run with the cluster phase: skipped (with
// the reason) or never reported. Empty when one of them passed (a real miss) or all gave a verdict — unless the
// platform was installed with Helm because Argo CD was not built: the default path never ran.
func unjudged(o Outcome) string {
	if r, ok := o.verdicts[check.NameArgoCD]; ok && r.Status == result.Skipped {
		// Installed with Helm instead: the default path (Argo CD's sync) never ran, whatever Helm's verdicts say.
		return fmt.Sprintf("%s was skipped (%s)", check.NameArgoCD, firstLine(r.Message))
	}
	var missing []string
	for _, e := range o.Case.Expect {
		found := false
		for name, r := range o.verdicts {
			if !matches(name, e) {
				continue
			}
			found = true
			switch r.Status {
			case result.Passed:
				return ""
			case result.Skipped:
				missing = append(missing, fmt.Sprintf("%s was skipped (%s)", name, firstLine(r.Message)))
			}
		}
		if !found {
			missing = append(missing, e+" never reported")
		}
	}
	slices.Sort(missing)
	return strings.Join(missing, "; ")
}

// staticSteps are `harness check`'s steps that need no cluster (the workload tier aside: it runs the Python
// runtimes, minutes per case); policy/checkov only when asked or expected.
func staticSteps(cfg Config, c Case) []check.Step {
	phases := []check.Phase{check.PhaseStatic}
	if cfg.Checkov || slices.Contains(c.Expect, "policy/checkov") {
		phases = append(phases, check.PhaseScan)
	}
	return check.Select(check.Steps(), phases...)
}

// clusterSteps are the steps that need a cluster, without the deploy of the upstream charts unless the case
// expects a deploy/ verdict (the probes stand in for the charts' pods from their values; a deploy through
// Argo CD costs a minute or more per case).
func clusterSteps(Case) []check.Step {
	return check.Select(check.Steps(), check.ClusterPhases...)
}

// deploys reports whether the case expects a verdict of the upstream charts' deploy.
func deploys(c Case) bool {
	for _, e := range c.Expect {
		if strings.HasPrefix(e, "deploy/") || e == "deploy" {
			return true
		}
	}
	return false
}

func collect(out *Outcome, rs []result.Result) {
	for _, r := range rs {
		if out.verdicts == nil {
			out.verdicts = map[string]result.Result{}
		}
		out.verdicts[r.Name] = r
		if r.Status != result.Failed {
			continue
		}
		msg := r.Message
		if len(r.Details) > 0 {
			msg += " | " + r.Details[0]
		}
		out.Failed = append(out.Failed, Finding{Check: r.Name, Message: firstLine(msg)})
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}
