package check

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cluster"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/deploy"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/shape"
)

// Options configure a check run.
type Options struct {
	Root string
	Env  string
	// Cluster is started; nil runs the static checks only (the others are skipped).
	Cluster cluster.Cluster
	// ChartsDir holds upstream charts as <ChartsDir>/<chart>; apps whose chart is absent are skipped.
	ChartsDir string
	// FetchCharts pulls upstream charts (Helm SDK, HTTP repositories and OCI) into ChartsCache when ChartsDir
	// does not have them; a chart that cannot be fetched is skipped with the reason.
	FetchCharts bool
	ChartsCache string
	// RealCluster says pods really run (the existing backend, e.g. real EKS): upstream charts keep their
	// admission webhooks and APIServices (dropped otherwise, and the result says so), the workflow manifests are
	// only dry-run (creating them would start real GPU work), and the probes are deleted afterwards.
	RealCluster bool
	// CRDsDir holds the CRDs tools/crdgen generated (make crds); empty or missing skips the CRD install, and
	// custom resources are then reported as not validated.
	CRDsDir string
	Budget  Budget
	// Shape replaces the static reading of terraform/ (the node groups an apply created).
	Shape *shape.Shape
	// Before are results of steps run before Run (the apply tier); reported first.
	Before []Result
	// OnResult is called as each result is known (progress output); may be nil.
	OnResult func(Result)
}

// Outcome is what a run found.
type Outcome struct {
	Platform   *Platform
	Results    []Result
	Placements []Placement
}

// Run loads the environment's platform, runs the static checks, deploys to the cluster and runs the cluster
// checks, printing one progress line per step.
func Run(ctx context.Context, o Options) (*Outcome, error) {
	if o.OnResult == nil {
		o.OnResult = func(Result) {}
	}
	if o.Budget == (Budget{}) {
		o.Budget = DefaultBudget
	}
	out := &Outcome{}
	add := func(rs ...Result) {
		for _, r := range rs {
			out.Results = append(out.Results, r)
			o.OnResult(r)
		}
	}
	timed := func(f func() Result) Result {
		t0 := time.Now()
		r := f()
		r.Duration = time.Since(t0)
		return r
	}
	p, err := Load(o.Root, o.Env)
	if err != nil {
		return nil, err
	}
	if o.Shape != nil {
		p.Shape = o.Shape
	}
	out.Platform = p
	add(o.Before...)
	add(timed(func() Result { return Consistency(p) }), timed(func() Result { return Cost(p, o.Budget) }))
	add(Policies(o.Root, o.Env, time.Now())...)
	if o.Cluster == nil {
		for _, n := range []string{"crds", "deploy", "api-acceptance", "gpu-isolation", "gpu-capacity", "system-fit"} {
			add(skip(n, "no cluster"))
		}
		return out, nil
	}
	rc := o.Cluster.RESTConfig()
	// Probe pods do not meet the namespaces' warn-level Pod Security profile; that is not news.
	rc.WarningHandler = rest.NoWarnings{}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	// Installing the CRDs is seconds of API-server work; only api-acceptance needs them, so it runs beside the
	// deploy and the probes — unless upstream charts are installed, which may bring the same CRDs: then first,
	// so that which schema is installed does not depend on timing.
	crds := make(chan Result, 1)
	if o.FetchCharts || o.ChartsDir != "" {
		crds <- timed(func() Result { return InstallCRDs(ctx, rc, o.CRDsDir) })
	} else {
		go func() { crds <- timed(func() Result { return InstallCRDs(ctx, rc, o.CRDsDir) }) }()
	}
	add(DeployApps(ctx, o, p)...)
	if o.RealCluster {
		defer func() { _ = DeleteProbes(context.WithoutCancel(ctx), cs) }()
	}

	t0 := time.Now()
	ps, err := RunProbes(ctx, cs, p.Workloads, time.Minute)
	if err != nil {
		<-crds
		return out, err
	}
	scaled := map[string]int{}
	for _, g := range p.Shape.Groups {
		scaled[g.Name] = g.DesiredSize
	}
	if sc, ok := o.Cluster.(cluster.Scaler); ok {
		if ps, err = ScaleForGPUs(ctx, cs, sc, p, ps, scaled); err != nil {
			<-crds
			return out, err
		}
	}
	probeTime := time.Since(t0)
	for _, r := range []Result{GPUIsolation(p, ps), GPUCapacity(p, ps, scaled), SystemFit(ps)} {
		r.Duration = probeTime
		add(r)
	}
	out.Placements = ps

	add(<-crds)
	t0 = time.Now()
	api := APIAcceptance(ctx, rc, p.Objects)
	api[0].Duration = time.Since(t0)
	add(api...)
	if o.RealCluster {
		add(skip("deploy/workflows", "real cluster: workflows are only dry-run here (the smoke tests submit them)"))
	} else {
		add(timed(func() Result { return ApplyWorkflows(ctx, rc, p.Objects) }))
	}
	return out, nil
}

// InstallCRDs installs the generated CRDs so the API server validates custom resources against the upstream
// schemas. Not generated is a skip with the command that generates them, never a pass.
func InstallCRDs(ctx context.Context, rc *rest.Config, dir string) Result {
	const name = "crds"
	if dir == "" {
		return skip(name, "no CRD directory given; custom resources are not validated")
	}
	set, err := deploy.LoadCRDs(dir)
	if errors.Is(err, deploy.ErrNoCRDs) {
		return skip(name, "%v; custom resources are not validated", err)
	}
	if err != nil {
		return fail(name, nil, "%v", err)
	}
	if err := deploy.InstallCRDs(ctx, rc, set, time.Minute); err != nil {
		return fail(name, nil, "%v", err)
	}
	r := pass(name, "%d CRDs generated from upstream Go types installed and served", len(set.CRDs))
	r.Details = append(set.Names(), set.Sources...)
	return r
}

// DeployApps installs every Application's chart that is here (in-repo, or in o.ChartsDir); the others are
// skipped with the reason.
func DeployApps(ctx context.Context, o Options, p *Platform) []Result {
	var out []Result
	for _, a := range p.Apps {
		t0 := time.Now()
		r := deployApp(ctx, o, a)
		r.Duration = time.Since(t0)
		out = append(out, r)
	}
	return out
}

func deployApp(ctx context.Context, o Options, a deploy.App) Result {
	name := "deploy/" + a.Name
	dir := ""
	note := ""
	switch {
	case a.InRepo(RepoURL):
		dir = filepath.Join(o.Root, a.Path)
	case a.Chart == "":
		return skip(name, "chart not fetched: %s %s from %s (a Git source outside this repository)", a.Path, a.TargetRevision, a.RepoURL)
	default:
		if o.ChartsDir != "" {
			if _, err := os.Stat(filepath.Join(o.ChartsDir, a.Chart, "Chart.yaml")); err == nil {
				dir = filepath.Join(o.ChartsDir, a.Chart)
			}
		}
		if dir == "" && !o.FetchCharts {
			where := "pass --charts-dir or --fetch-charts"
			if o.ChartsDir != "" {
				where = "not in " + o.ChartsDir
			}
			return skip(name, "chart not fetched: %s %s from %s (%s)", a.Chart, a.TargetRevision, a.RepoURL, where)
		}
		if dir == "" {
			d, err := deploy.FetchChart(ctx, a.RepoURL, a.Chart, a.TargetRevision, o.ChartsCache, time.Minute)
			if err != nil {
				return skip(name, "chart not fetched: %v", err)
			}
			dir = d
		}
		if !o.RealCluster {
			note = " (admission webhooks and APIServices left out: nothing serves them on an emulated cluster)"
		}
	}
	var opts []deploy.InstallOption
	if note != "" {
		opts = append(opts, deploy.DropWebhooks)
	}
	objs, err := deploy.Install(ctx, o.Cluster.Kubeconfig(), dir, deploy.Release{Name: a.Name, Namespace: a.Namespace}, a.Values, opts...)
	if err != nil {
		return fail(name, nil, "%v", err)
	}
	return pass(name, "helm install %s: %d objects%s", a.Name, len(objs), note)
}

// ScaleForGPUs scales GPU groups up (within max_size) when GPU probes wait only for GPUs, and re-reads
// placements. scaled holds the groups' sizes and is updated.
func ScaleForGPUs(ctx context.Context, cs kubernetes.Interface, sc cluster.Scaler, p *Platform, ps []Placement, scaled map[string]int) ([]Placement, error) {
	var need int64
	for _, pl := range ps {
		if pl.Node == "" && pl.Workload.GPUs() > 0 && fitsGPUGroup(p, pl.Workload) {
			need += pl.Workload.GPUs()
		}
	}
	if need == 0 {
		return ps, nil
	}
	for _, g := range p.Shape.Groups {
		if !g.Instance.GPU() || need <= 0 {
			continue
		}
		add := min(int((need+int64(g.Instance.GPUs)-1)/int64(g.Instance.GPUs)), g.MaxSize-scaled[g.Name])
		if add <= 0 {
			continue
		}
		if err := sc.ScaleGroup(ctx, g.Name, scaled[g.Name]+add); err != nil {
			return ps, fmt.Errorf("scale %s: %w", g.Name, err)
		}
		scaled[g.Name] += add
		need -= int64(add * g.Instance.GPUs)
	}
	byName := map[string]deploy.Workload{}
	for _, w := range p.Workloads {
		byName[probeName(w)] = w
	}
	// New nodes: kwok readies them, the scheduler places the waiting GPU pods and the device plugin's pods.
	return settle(ctx, cs, byName, time.Minute)
}
