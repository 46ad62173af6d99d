package check

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/check/wiring"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/check/workload"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/engine"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/internal/proc"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/shape"
)

// Run is the state one run of the steps shares: the environment, the run's settings, and what earlier steps
// observed for later ones.
type Run struct {
	*engine.Env
	Budget Budget
	// Now dates the support-calendar policy.
	Now time.Time
	// Placements are the probe pods as the scheduler left them (set by the probes step).
	Placements []engine.Placement
	// ArgoCD, when set, deploys through the real Argo CD (bootstrap.yaml, the app-of-apps' sync) instead of
	// installing each chart with Helm.
	ArgoCD *engine.ArgoCD
	// HelmInstead, when set and ArgoCD is not, says why a platform deployed by Argo CD is installed with Helm
	// directly in this run (Argo CD not built): the deploy step reports deploy/argocd skipped with it, so that the
	// summary says the GitOps path (bootstrap.yaml, sync options, waves, Argo CD's own apply) was not judged.
	HelmInstead string
	// CheckovVenv is checkov's virtualenv; empty: .venv-checkov under the repository root.
	CheckovVenv string
	// Workloads, when set, runs the workload tier (Platform, Rest and Kubeconfig are filled in from the run).
	Workloads *workload.Config
	// Sizes is the node layout after the probes step (groups scaled for GPUs included), read from the cluster.
	Sizes *shape.Shape
	// Karpenter, when set, is where the real Karpenter comes from: the karpenter step runs it on an embedded
	// cluster when the platform declares NodePools. Launched are the nodes it launched (probes step).
	Karpenter *engine.KarpenterConfig
	Launched  []engine.KarpenterNode
	// KubeRay is tools/kuberay's build (bin/kuberay): the acceptance phase runs KubeRay's own validation with it
	// on the platform's Ray objects; empty: that verdict is skipped.
	KubeRay string
	// OnDeployed, when set, is called with the deploy step's results right after it, before anything else
	// touches the cluster (harness check snapshots the deployed platform there for the scenarios to fork).
	OnDeployed func(ctx context.Context, deployed []result.Result)
	// Reused, when set, is a deploy this run does not do: the cluster started from the snapshot of an identical
	// one, whose verdicts the deploy step reports (harness check --reuse-deploy).
	Reused *ReusedDeploy

	crds chan result.Result
	// scan carries the results of a step running beside the cluster steps (beside); scanAt is its place.
	scan      chan []result.Result
	scanAt    int
	startScan func() // set while the scan waits for the deploy to end
	scanStep  Step
	// ahead is the workload tier started beside the cluster steps after the deploy (startWorkloads).
	ahead *workloadsAhead
	// steps are the steps Execute runs (a static step may leave a verdict to a later one).
	steps []Step
}

// NameArgoCD is the result of Argo CD's sync as a whole (it fails when Argo CD could not run).
const NameArgoCD = "deploy/argocd"

// argoNotJudged is deploy/argocd skipped when the platform is installed with Helm though Argo CD deploys it
// (Run.HelmInstead): what only Argo CD's sync would show is not judged, and the run says so.
func argoNotJudged(r *Run) []result.Result {
	if r.ArgoCD != nil || r.HelmInstead == "" {
		return nil
	}
	return []result.Result{result.Skip(NameArgoCD, "Argo CD's sync of %s not judged (%s): the charts were installed with Helm directly, so the Applications' sync options, waves and Argo CD's own apply were not tried",
		r.Platform.BootstrapFile, r.HelmInstead)}
}

// Phase is the part of a run a step belongs to. Every runner (harness check, the rehearsal, the nightly, the
// corpus, the tests) chooses its steps by phase (Select), never by a step's name.
type Phase string

// The phases, in the order Steps runs them.
const (
	// PhaseStatic judges the platform model alone (no cluster, no external program).
	PhaseStatic Phase = "static"
	// PhaseScan runs an external scanner over the model (checkov: tens of seconds of Python).
	PhaseScan Phase = "scan"
	// PhaseCRDs installs the CRDs generated from upstream Go types.
	PhaseCRDs Phase = "crds"
	// PhaseDeploy puts the charts on the cluster (Helm, or the real Argo CD syncing bootstrap.yaml).
	PhaseDeploy Phase = "deploy"
	// PhaseControllers starts the controllers the harness runs beside the cluster (Karpenter).
	PhaseControllers Phase = "controllers"
	// PhasePlacement places a probe for every workload with the real scheduler and judges where they went.
	PhasePlacement Phase = "placement"
	// PhaseAcceptance asks the API server to accept every custom resource the platform creates.
	PhaseAcceptance Phase = "acceptance"
	// PhaseWorkflows creates the workflow manifests on the cluster.
	PhaseWorkflows Phase = "workflows"
	// PhaseWorkload runs the project's workflow code with the real runtimes (the workload tier).
	PhaseWorkload Phase = "workload"
)

// NeedsCluster reports whether a step of phase p needs a cluster (it is skipped, "no cluster", without one).
func (p Phase) NeedsCluster() bool {
	switch p {
	case PhaseStatic, PhaseScan, PhaseWorkload: // the workload tier says itself what it needs
		return false
	}
	return true
}

// Step is one named step of a run. A step that needs a cluster is reported as skipped ("no cluster") under
// each of its Names when the run has none.
type Step struct {
	// Names are the results the step reports when it cannot run.
	Names []string
	Phase Phase
	Run   func(ctx context.Context, r *Run) ([]result.Result, error)
}

// NeedsCluster reports whether the step needs a cluster (by its phase).
func (s Step) NeedsCluster() bool { return s.Phase.NeedsCluster() }

// Select is the steps of the given phases, in their order.
func Select(steps []Step, phases ...Phase) []Step {
	var out []Step
	for _, s := range steps {
		if slices.Contains(phases, s.Phase) {
			out = append(out, s)
		}
	}
	return out
}

// Except is the steps of every phase but the given ones, in their order.
func Except(steps []Step, phases ...Phase) []Step {
	var out []Step
	for _, s := range steps {
		if !slices.Contains(phases, s.Phase) {
			out = append(out, s)
		}
	}
	return out
}

// ClusterPhases are the phases that need a cluster.
var ClusterPhases = []Phase{PhaseCRDs, PhaseDeploy, PhaseControllers, PhasePlacement, PhaseAcceptance, PhaseWorkflows}

// Steps is `harness check`, in order: the static verdicts, then the CRDs, the deploy, the probes and their
// verdicts, the API server's acceptance and the workflow manifests.
func Steps() []Step {
	return []Step{
		{Names: []string{"consistency"}, Phase: PhaseStatic, Run: one(func(_ context.Context, r *Run) result.Result { return Consistency(r.Platform) })},
		{Names: []string{NameCode}, Phase: PhaseStatic, Run: one(func(_ context.Context, r *Run) result.Result { return WorkloadCode(r.Platform) })},
		{Names: []string{"cost"}, Phase: PhaseStatic, Run: one(func(_ context.Context, r *Run) result.Result { return Cost(r.Platform, r.Budget) })},
		{Names: []string{"policy"}, Phase: PhaseStatic, Run: func(_ context.Context, r *Run) ([]result.Result, error) { return Policies(r.Platform, r.Now), nil }},
		{Names: []string{NameValues}, Phase: PhaseStatic, Run: func(ctx context.Context, r *Run) ([]result.Result, error) { return Values(ctx, r.Env), nil }},
		{Names: []string{NameArgoCDSync}, Phase: PhaseStatic, Run: one(func(_ context.Context, r *Run) result.Result { return ArgoCDSync(r.Platform) })},
		{Names: []string{NameNodePools}, Phase: PhaseStatic, Run: one(func(_ context.Context, r *Run) result.Result { return KarpenterNodePools(r.Platform) })},
		{Names: []string{"wiring/identity", "wiring/names", "wiring/database", "wiring/args", "wiring/karpenter"}, Phase: PhaseStatic, Run: wiringStep},
		{Names: []string{"policy/checkov"}, Phase: PhaseScan, Run: func(ctx context.Context, r *Run) ([]result.Result, error) {
			return r.beside(ctx, scanChecks)
		}},
		{Names: []string{"crds"}, Phase: PhaseCRDs, Run: startCRDs},
		{Names: []string{"deploy"}, Phase: PhaseDeploy, Run: func(ctx context.Context, r *Run) ([]result.Result, error) {
			r.prepareKarpenter(ctx)
			var rs []result.Result
			if d := r.Reused; d != nil {
				r.Reused = nil
				r.AdoptDeployment(ctx, d.Apps, d.How)
				rs = d.results()
			} else {
				rs = append(argoNotJudged(r), Deploy(r.Deploy(ctx, r.ArgoCD))...)
			}
			if r.OnDeployed != nil {
				// The generated CRDs are part of what was deployed: their install (when it ran beside) ends first.
				rs = append(r.awaitCRDs(), rs...)
				r.OnDeployed(ctx, rs)
			}
			return rs, nil
		}},
		{Names: []string{"karpenter"}, Phase: PhaseControllers, Run: one(func(ctx context.Context, r *Run) result.Result {
			if r.Karpenter == nil {
				return result.Skip(NameKarpenter, "no Karpenter build given (harness check finds bin/karpenter: make karpenter)")
			}
			st, err := r.StartKarpenter(ctx, *r.Karpenter)
			return KarpenterStarted(st, r.Platform.Shape.Zone, err)
		})},
		{Names: []string{"gpu-isolation", "gpu-capacity", "system-fit"}, Phase: PhasePlacement, Run: probes},
		{Names: []string{"api-acceptance"}, Phase: PhaseAcceptance, Run: apiAcceptance},
		{Names: []string{NameKubeRay}, Phase: PhaseAcceptance, Run: kubeRayStep},
		{Names: []string{"deploy/workflows"}, Phase: PhaseWorkflows, Run: one(func(ctx context.Context, r *Run) result.Result { return Workflows(r.ApplyWorkflows(ctx)) })},
		{Names: workload.Names, Phase: PhaseWorkload, Run: workloads},
	}
}

// one adapts a step with one result; it times the result.
func one(f func(ctx context.Context, r *Run) result.Result) func(context.Context, *Run) ([]result.Result, error) {
	return func(ctx context.Context, r *Run) ([]result.Result, error) {
		t0 := time.Now()
		res := f(ctx, r)
		res.Duration = time.Since(t0)
		return []result.Result{res}, nil
	}
}

// Execute runs the steps in order, calling onResult (may be nil) as each result is known. An error is a step
// that could not reach a verdict (the cluster went away, the context ended); the results so far are returned
// with it.
func Execute(ctx context.Context, r *Run, steps []Step, onResult func(result.Result)) ([]result.Result, error) {
	if r.Budget == (Budget{}) {
		r.Budget = DefaultBudget
	}
	if r.Now.IsZero() {
		r.Now = time.Now()
	}
	r.steps = steps
	var out []result.Result
	add := func(rs ...result.Result) {
		for _, res := range rs {
			out = append(out, res)
			if onResult != nil {
				onResult(res)
			}
		}
	}
	if r.Cluster != nil && !r.Cluster.Emulated() {
		defer func() { _ = r.DeleteProbes(context.WithoutCancel(ctx)) }()
	}
	defer r.StopKarpenter()
	defer r.stopWorkloads()
	for i, s := range steps {
		if err := ctx.Err(); err != nil {
			rest := r.dropScan(steps[i:])
			if d, ok := proc.DeathOf(ctx); ok {
				r.drainCRDs()
				return died(out, d, rest, onResult), nil
			}
			add(r.awaitCRDs()...)
			return out, context.Cause(ctx)
		}
		if s.NeedsCluster() && r.Cluster == nil {
			for _, n := range s.Names {
				add(result.Skip(n, "no cluster"))
			}
			continue
		}
		scanning := r.scan != nil
		rs, err := s.Run(ctx, r)
		if !scanning && r.scan != nil {
			r.scanAt, r.scanStep = len(out), s
		}
		if d, ok := proc.DeathOf(ctx); ok {
			// What the step saw after the process died are its consequences, not verdicts.
			r.drainCRDs()
			return died(out, d, r.dropScan(steps[i:]), onResult), nil
		}
		add(rs...)
		if s.Phase == PhaseDeploy {
			r.launchScan()
			if err == nil {
				r.startWorkloads(ctx, i+1)
			}
		}
		if err != nil {
			add(r.awaitCRDs()...) // a step that failed must not leave the CRD install running, nor lose its result
			if ctx.Err() != nil {
				r.dropScan(nil) // interrupted: a scan started now would only see the cancelled context
				return out, err
			}
			return r.awaitScan(out, onResult), err
		}
	}
	add(r.awaitCRDs()...)
	return r.awaitScan(out, onResult), nil
}

// NameProcess is the result of a supervised process (control plane, Argo CD, Karpenter, KubeRay, Ray, moto, a
// model server) that died during the run.
const NameProcess = "process"

// died is the run's results when a supervised process died: first a failed result naming the process, its exit
// status and its log's last lines, then what ran before, then every step not reached (the one that was running
// included) skipped with the death as reason — no result blames the death's consequences on the platform.
func died(before []result.Result, d *proc.Death, rest []Step, onResult func(result.Result)) []result.Result {
	first := result.Fail(NameProcess, d.Tail, "%s: the run stopped at once (last lines of %s in the details)", d.Error(), d.Log)
	news := []result.Result{first}
	reason := fmt.Sprintf("not judged: %s died", d.Name)
	for _, s := range rest {
		for _, n := range s.Names {
			news = append(news, result.Skip(n, "%s", reason))
		}
	}
	if onResult != nil {
		for _, res := range news {
			onResult(res)
		}
	}
	return append(append([]result.Result{first}, before...), news[1:]...)
}

// scanChecks runs checkov over Terraform and the rendered charts (policy/checkov).
func scanChecks(ctx context.Context, r *Run) []result.Result {
	t0 := time.Now()
	var charts []ChartObjects
	rendered, skipped := r.RenderCharts(ctx)
	for _, c := range rendered {
		charts = append(charts, ChartObjects{Chart: c.App.Chart, App: c.App.Name, Objects: c.Objects})
	}
	res := Checkov(ctx, r.Platform, r.CheckovVenv, charts, skipped)
	res.Duration = time.Since(t0)
	out := []result.Result{res}
	if res.Status == result.Passed && len(skipped) > 0 {
		out = append(out, result.SkippedPart(res.Name, skipped))
	}
	return out
}

// beside runs a step that only reads the platform model (the scan: tens of seconds of Python) beside the cluster
// steps that follow it, when there are any: Execute puts its results where the step stands once they are in (before
// it returns, on every path). Otherwise it runs at once. It starts once the deploy is done: the sync through Argo CD
// keeps both cores busy (checkov beside it made it ~25 s slower on 2 cores), the steps after it mostly wait.
func (r *Run) beside(ctx context.Context, run func(context.Context, *Run) []result.Result) ([]result.Result, error) {
	later := r.Cluster != nil && slices.ContainsFunc(r.steps, func(s Step) bool { return s.NeedsCluster() })
	if !later || r.scan != nil {
		return run(ctx, r), nil
	}
	r.scan = make(chan []result.Result, 1)
	// Beside the run's own steps, below them: the scan takes the CPU they leave (proc.Background).
	r.startScan = func() { go func() { r.scan <- run(proc.Background(ctx), r) }() }
	if !slices.ContainsFunc(r.steps, func(s Step) bool { return s.Phase == PhaseDeploy }) {
		r.startScan()
		r.startScan = nil
	}
	return nil, nil
}

// awaitScan waits for a step running beside (beside) and inserts its results at the step's place in out, reporting
// them to onResult.
func (r *Run) awaitScan(out []result.Result, onResult func(result.Result)) []result.Result {
	if r.scan == nil {
		return out
	}
	r.launchScan()
	rs := <-r.scan
	r.scan = nil
	if onResult != nil {
		for _, res := range rs {
			onResult(res)
		}
	}
	return slices.Insert(out, min(r.scanAt, len(out)), rs...)
}

// dropScan ends a run's scan without its verdict — the run stopped (a death, an interrupt), so what the scan saw
// after that, a cancelled checkov among it, is no verdict on the platform — and returns rest with the scan's step
// first when there was one (died reports it as not judged, like the steps not reached).
func (r *Run) dropScan(rest []Step) []Step {
	if r.scan == nil {
		return rest
	}
	if r.startScan != nil {
		r.startScan = nil
	} else {
		<-r.scan
	}
	r.scan = nil
	return append([]Step{r.scanStep}, rest...)
}

// launchScan starts a scan that waits for the deploy.
func (r *Run) launchScan() {
	if r.startScan != nil {
		r.startScan()
		r.startScan = nil
	}
}

// drainCRDs waits for a background CRD install and drops its result.
func (r *Run) drainCRDs() { _ = r.awaitCRDs() }

// startCRDs installs the generated CRDs. Only api-acceptance needs them, so the install (seconds of API-server
// work) runs beside the deploy and the probes — unless upstream charts are installed, which may bring the same
// CRDs: then first, so that which schema is installed does not depend on timing.
func startCRDs(ctx context.Context, r *Run) ([]result.Result, error) {
	timed := func() result.Result {
		t0 := time.Now()
		res := CRDs(r.InstallCRDs(ctx))
		res.Duration = time.Since(t0)
		return res
	}
	// Resolved here, before anything runs beside the deploy: which charts will be installed decides the order.
	// In-repo charts that create custom resources (Karpenter's NodePools) need the CRDs before the deploy too.
	if r.ResolveCharts(ctx) || r.Platform.InRepoCustomResources() {
		return []result.Result{timed()}, nil
	}
	r.crds = make(chan result.Result, 1)
	go func() { r.crds <- timed() }()
	return nil, nil
}

// awaitCRDs returns the CRD install's result when it ran in the background (and nil otherwise).
func (r *Run) awaitCRDs() []result.Result {
	if r.crds == nil {
		return nil
	}
	res := <-r.crds
	r.crds = nil
	return []result.Result{res}
}

// probes places a probe for every workload with the real scheduler, scales GPU groups when GPU pods wait only
// for GPUs, and judges the placements.
func probes(ctx context.Context, r *Run) ([]result.Result, error) {
	t0 := time.Now()
	ps, err := r.RunProbes(ctx, time.Minute)
	if err != nil {
		return nil, err
	}
	if ps, err = r.ScaleForGPUs(ctx, ps); err != nil {
		return nil, err
	}
	r.Placements, r.Sizes = ps, r.Cluster.Shape()
	var knodes []engine.KarpenterNode
	if r.KarpenterRunning() {
		if knodes, err = r.KarpenterNodes(ctx); err != nil {
			return nil, err
		}
	}
	r.Launched = knodes
	gpuNodes, err := r.GPUNodes(ctx)
	if err != nil {
		return nil, err
	}
	took := time.Since(t0)
	var out []result.Result
	for _, res := range []result.Result{GPUIsolation(r.Platform, ps, knodes), GPUCapacity(r.Platform, r.Sizes, r.Watched(), ps, r.NodePools(), knodes, gpuNodes), SystemFit(ps)} {
		res.Duration = took
		out = append(out, res)
	}
	return out, nil
}

func apiAcceptance(ctx context.Context, r *Run) ([]result.Result, error) {
	out := r.awaitCRDs()
	t0 := time.Now()
	api := APIAcceptance(ctx, r.Env)
	api[0].Duration = time.Since(t0)
	return append(out, api...), nil
}

// wiringStep renders the upstream charts with the platform's values (no cluster) and checks what connects
// Terraform, the charts and the workflows.
func wiringStep(ctx context.Context, r *Run) ([]result.Result, error) {
	rendered, skipped := r.RenderCharts(ctx)
	in := wiring.Input{Platform: r.Platform, Skipped: skipped, Now: r.Now}
	// The karpenter step runs after the static ones: when it will run the AWS provider, that judges the node classes.
	in.KarpenterAWS = r.Karpenter != nil && slices.ContainsFunc(r.steps, func(s Step) bool { return s.Phase == PhaseControllers }) && r.KarpenterAWSRuns(*r.Karpenter)
	for _, c := range rendered {
		in.Charts = append(in.Charts, wiring.Chart{App: c.App, Objects: c.Objects, Values: c.Values})
	}
	return wiring.Check(in), nil
}

// Unfinished is the verdict on a run that stopped before its steps reached one (what was being waited for, in
// err): a failed result named "harness", written to the report and JUnit like any other.
func Unfinished(what string, err error) result.Result {
	return result.Fail("harness", []string{err.Error()}, "%s could not finish: %v", what, err)
}

// ReusedDeploy is a deploy a run does not do again: its cluster started from the snapshot of an identical deploy
// (the same engine.DeployKey: every file, chart, CRD and binary the deploy reads, and the cluster's options), taken
// right after that deploy passed, before anything else touched the cluster.
type ReusedDeploy struct {
	// Apps and How are what the snapshot's deploy put on the cluster and how (engine.AdoptDeployment).
	Apps []string
	How  string
	// From names the snapshot (whose deploy, when, its key); Took is the cluster's start from it.
	From string
	Took time.Duration
	// Results are that deploy's verdicts (deploy/...): all passed or skipped, as a snapshot is only taken then.
	Results []result.Result
}

// results are the snapshot's deploy verdicts, each saying that it was not reached again in this run.
func (d *ReusedDeploy) results() []result.Result {
	var out []result.Result
	for _, r := range d.Results {
		r.Message = fmt.Sprintf("not deployed again: the cluster started in %s from %s, whose verdict was: %s",
			d.Took.Round(100*time.Millisecond), d.From, r.Message)
		r.Duration = 0
		out = append(out, r)
	}
	return out
}
