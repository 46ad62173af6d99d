package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/pflag"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cluster"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/engine"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/platform"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/report"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/scenario"
)

func runScenarios(ctx context.Context, args []string) error {
	var f clusterFlags
	var reportDir string
	var charts engine.Charts
	var deployVia string
	var snapshots string
	var parallel int
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	f.register(fs)
	fs.StringVar(&charts.Dir, "charts-dir", os.Getenv("HARNESS_CHARTS_DIR"), "upstream charts unpacked as <dir>/<chart>, as `helm pull --untar` leaves them (default $HARNESS_CHARTS_DIR); apps whose chart is in neither this nor the cache are skipped")
	fs.BoolVar(&charts.Fetch, "fetch-charts", false, "pull upstream charts that --charts-dir lacks from their repositories (needs network)")
	fs.StringVar(&charts.Cache, "charts-cache", defaultChartsCache(), "where fetched charts are kept, by name and version")
	fs.StringVar(&deployVia, "deploy", "auto", "how a deploy step deploys the platform: argocd (the real Argo CD syncs helm/bootstrap.yaml), helm (each chart installed directly, faster), auto (argocd when `make argocd` built it)")
	fs.StringVar(&reportDir, "report-dir", filepath.Join("test", "results", "scenarios"), "where junit-<scenario>.xml go")
	fs.StringVar(&snapshots, "snapshots", defaultSnapshots(), "a scenario whose first step deploys starts from harness check's snapshot of the same deploy when there is one (default $HARNESS_SNAPSHOTS or the user cache; none: always deploy)")
	fs.IntVar(&parallel, "parallel", defaultParallel(), "scenarios run at the same time, each on its own embedded cluster (their output still appears in file order); 1: one after another. Other backends run one at a time")
	fs.SetOutput(os.Stderr)
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() == 0 {
		return fmt.Errorf("%w: name at least one scenario file, e.g. scenarios/gpu-capacity.yaml", errUsage)
	}
	set, err := loadScenarios(f, fs.Args())
	if err != nil {
		return err
	}
	set.charts, set.deployVia, set.store, set.parallel, set.reportDir = charts, deployVia, snapshotStore{snapshots}, parallel, reportDir
	if err := os.MkdirAll(reportDir, 0o755); err != nil {
		return err
	}
	return set.run(ctx, os.Stdout)
}

// scenarioSet is the scenarios one command runs (`harness run`, or `harness check` beside its own steps), with
// what they share.
type scenarioSet struct {
	f         clusterFlags
	charts    engine.Charts
	deployVia string
	store     snapshotStore
	parallel  int
	reportDir string
	scenarios []*scenario.Scenario
	platforms map[string]*platform.Platform
	// after gives what a scenario waits for before it starts (nil: nothing; see runAll).
	after func(*scenario.Scenario) <-chan struct{}
	// slots, when set, are the scenarios' slots (see runAll): a caller may hold some of them for a while.
	slots chan struct{}
	// runOne runs one scenario (nil: runScenario, on its own cluster).
	runOne func(ctx context.Context, f clusterFlags, s *scenario.Scenario) ([]result.Result, error)
}

// loadScenarios reads every file, and the platform of every environment they name, before any cluster starts:
// one bad file stops the run at once.
func loadScenarios(f clusterFlags, paths []string) (*scenarioSet, error) {
	set := &scenarioSet{f: f, platforms: map[string]*platform.Platform{}}
	for _, path := range paths {
		s, err := scenario.Load(path)
		if err != nil {
			return nil, err
		}
		if set.platforms[s.Spec.Environment] == nil {
			if set.platforms[s.Spec.Environment], err = f.load(s.Spec.Environment); err != nil {
				return nil, fmt.Errorf("%s: environment %s: %w", s.File, s.Spec.Environment, err)
			}
		}
		set.scenarios = append(set.scenarios, s)
	}
	return set, nil
}

// run runs the scenarios, at most parallel at once on a backend that gives each its own cluster (one at a time on
// the others), writes each one's JUnit file and prints their progress and summary to w, in file order. It returns
// errChecksFailed when a step failed, the first scenario's error (in file order) when one could not run.
func (set *scenarioSet) run(ctx context.Context, w io.Writer) error {
	parallel := set.parallel
	if b, _ := cluster.Lookup(set.f.backend); !b.Capabilities.RunDir || parallel < 1 {
		parallel = 1 // a given cluster (or one per Docker container) hosts one scenario at a time
	}
	slots := set.slots
	if slots == nil || parallel == 1 {
		slots = make(chan struct{}, parallel)
	}
	outs := runAll(ctx, set.scenarios, slots, w, set.after, func(ctx context.Context, s *scenario.Scenario, w io.Writer) ([]result.Result, error) {
		f := set.f
		f.out = w
		fmt.Fprintf(w, "scenario %s (%s): %s\n", s.Metadata.Name, s.File, s.Metadata.Description)
		if set.runOne != nil {
			return set.runOne(ctx, f, s)
		}
		return runScenario(ctx, f, set.charts, set.deployVia, set.store, set.platforms[s.Spec.Environment], s)
	})
	var all []result.Result
	var junits []string
	for i, s := range set.scenarios {
		all = append(all, outs[i].results...)
		if err := outs[i].err; err != nil {
			return fmt.Errorf("scenario %s: %w", s.Metadata.Name, err)
		}
		path := filepath.Join(set.reportDir, "junit-"+s.Metadata.Name+".xml")
		if err := report.JUnit(path, "scenario-"+s.Metadata.Name, outs[i].results); err != nil {
			return err
		}
		junits = append(junits, path)
	}
	fmt.Fprintln(w)
	report.Summary(w, all)
	fmt.Fprintf(w, "junit: %s\n", joinPaths(junits))
	if result.AnyFailed(all) {
		return errChecksFailed
	}
	return nil
}

func runScenario(ctx context.Context, f clusterFlags, charts engine.Charts, deployVia string, store snapshotStore, p *platform.Platform, s *scenario.Scenario) (rs []result.Result, err error) {
	f.preAdvertisedGPUs = f.preAdvertisedGPUs || s.Spec.PreAdvertisedGPUs
	b, _ := cluster.Lookup(f.backend)
	crdsDir := ""
	if b.Capabilities.Creates { // a given cluster gets its CRDs from the operators' charts
		crdsDir = filepath.Join(f.root, "bin", "crds")
	}
	fork := forkFor(ctx, f, b, store, charts, crdsDir, deployVia, p, s)
	if fork != nil {
		f.fromSnapshot = fork.dir
	}
	c, took, stopCluster, err := f.start(ctx, p)
	if err != nil && fork != nil && ctx.Err() == nil {
		fmt.Fprintf(f.stdout(), " · the fork did not start (%v): deploying afresh\n", err)
		fork, f.fromSnapshot = nil, ""
		c, took, stopCluster, err = f.start(ctx, p)
	}
	if err != nil {
		return nil, err
	}
	defer func() { stopCluster((err != nil || result.AnyFailed(rs)) && ctx.Err() == nil) }()
	env, err := engine.NewEnv(p, c, charts, crdsDir)
	if err != nil {
		return nil, err
	}
	argo, cleanup, err := argoCDFor(f, c, deployVia, false)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	r := &scenario.Runner{Env: env, ArgoCD: argo, OnResult: func(res result.Result) { report.Progress(f.stdout(), res) }}
	if fork != nil {
		fork.Fork.Took = took
		r.Forked = &fork.Fork
	}
	return r.Run(ctx, s)
}

// fork is a deploy snapshot a scenario starts from.
type fork struct {
	scenario.Fork
	dir string
}

// deployKeyFor is the engine.DeployKey of the deploy p would get with f's cluster options and deployVia (false when it
// cannot be computed: nothing is then reused or forked).
func deployKeyFor(ctx context.Context, f clusterFlags, charts engine.Charts, crdsDir, deployVia string, p *platform.Platform) (string, bool) {
	argo, err := deployer(f, deployVia, false)
	if err != nil {
		return "", false
	}
	static, err := engine.NewEnv(p, nil, charts, crdsDir)
	if err != nil {
		return "", false
	}
	key, err := static.DeployKey(ctx, argo, f.forkFacts()...)
	return key, err == nil
}

// forkFor finds harness check's snapshot of the deploy s's first step would do (same engine.DeployKey), when s
// starts with a deploy and the backend can start from a snapshot.
func forkFor(ctx context.Context, f clusterFlags, b cluster.Backend, store snapshotStore, charts engine.Charts, crdsDir, deployVia string,
	p *platform.Platform, s *scenario.Scenario) *fork {
	if store.off() || !b.Capabilities.Snapshot || len(s.Spec.Steps) == 0 || s.Spec.Steps[0].Deploy == nil {
		return nil
	}
	key, ok := deployKeyFor(ctx, f, charts, crdsDir, deployVia, p)
	if !ok {
		return nil
	}
	dir, rec, ok := store.find(key)
	if !ok {
		fmt.Fprintf(f.stdout(), " · no snapshot of this deploy (key %s; harness check takes one): the scenario deploys the platform\n", key[:12])
		return nil
	}
	return &fork{dir: dir, Fork: scenario.Fork{Apps: rec.Apps, How: rec.How,
		From: fmt.Sprintf("harness check's snapshot of %s (key %s)", rec.Taken.Local().Format("2006-01-02 15:04:05"), key[:12])}}
}

func joinPaths(ps []string) string {
	if len(ps) == 1 {
		return ps[0]
	}
	return filepath.Join(reportDir(ps), "junit-*.xml")
}

func reportDir(ps []string) string { return filepath.Dir(ps[0]) }
