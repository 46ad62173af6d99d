package main

import (
	"context"
	"fmt"
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
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	f.register(fs)
	fs.StringVar(&charts.Dir, "charts-dir", os.Getenv("HARNESS_CHARTS_DIR"), "upstream charts unpacked as <dir>/<chart>, as `helm pull --untar` leaves them (default $HARNESS_CHARTS_DIR); apps whose chart is in neither this nor the cache are skipped")
	fs.BoolVar(&charts.Fetch, "fetch-charts", false, "pull upstream charts that --charts-dir lacks from their repositories (needs network)")
	fs.StringVar(&charts.Cache, "charts-cache", defaultChartsCache(), "where fetched charts are kept, by name and version")
	fs.StringVar(&deployVia, "deploy", "auto", "how a deploy step deploys the platform: argocd (the real Argo CD syncs helm/bootstrap.yaml), helm (each chart installed directly, faster), auto (argocd when `make argocd` built it)")
	fs.StringVar(&reportDir, "report-dir", filepath.Join("test", "results", "scenarios"), "where junit-<scenario>.xml go")
	fs.SetOutput(os.Stderr)
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() == 0 {
		return fmt.Errorf("%w: name at least one scenario file, e.g. scenarios/gpu-capacity.yaml", errUsage)
	}
	// Every file, and the platform of every environment they name, is read before any cluster starts: one bad
	// file stops the run at once.
	var scenarios []*scenario.Scenario
	platforms := map[string]*platform.Platform{}
	for _, path := range fs.Args() {
		s, err := scenario.Load(path)
		if err != nil {
			return err
		}
		if platforms[s.Spec.Environment] == nil {
			if platforms[s.Spec.Environment], err = f.load(s.Spec.Environment); err != nil {
				return fmt.Errorf("%s: environment %s: %w", s.File, s.Spec.Environment, err)
			}
		}
		scenarios = append(scenarios, s)
	}
	if err := os.MkdirAll(reportDir, 0o755); err != nil {
		return err
	}
	var all []result.Result
	var junits []string
	for _, s := range scenarios {
		fmt.Printf("scenario %s (%s): %s\n", s.Metadata.Name, s.File, s.Metadata.Description)
		results, err := runScenario(ctx, f, charts, deployVia, platforms[s.Spec.Environment], s)
		all = append(all, results...)
		if err != nil {
			return fmt.Errorf("scenario %s: %w", s.Metadata.Name, err)
		}
		path := filepath.Join(reportDir, "junit-"+s.Metadata.Name+".xml")
		if err := report.JUnit(path, "scenario-"+s.Metadata.Name, results); err != nil {
			return err
		}
		junits = append(junits, path)
	}
	fmt.Println()
	report.Summary(os.Stdout, all)
	fmt.Printf("junit: %s\n", joinPaths(junits))
	if result.AnyFailed(all) {
		return errChecksFailed
	}
	return nil
}

func runScenario(ctx context.Context, f clusterFlags, charts engine.Charts, deployVia string, p *platform.Platform, s *scenario.Scenario) (rs []result.Result, err error) {
	f.preAdvertisedGPUs = f.preAdvertisedGPUs || s.Spec.PreAdvertisedGPUs
	c, _, stopCluster, err := f.start(ctx, p)
	if err != nil {
		return nil, err
	}
	defer func() { stopCluster((err != nil || result.AnyFailed(rs)) && ctx.Err() == nil) }()
	crdsDir := ""
	if cluster.Of(c).Creates { // a given cluster gets its CRDs from the operators' charts
		crdsDir = filepath.Join(f.root, "bin", "crds")
	}
	env, err := engine.NewEnv(p, c, charts, crdsDir)
	if err != nil {
		return nil, err
	}
	argo, cleanup, err := argoCDFor(f, c, deployVia, false)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	r := &scenario.Runner{Env: env, ArgoCD: argo, OnResult: func(res result.Result) { report.Progress(os.Stdout, res) }}
	return r.Run(ctx, s)
}

func joinPaths(ps []string) string {
	if len(ps) == 1 {
		return ps[0]
	}
	return filepath.Join(reportDir(ps), "junit-*.xml")
}

func reportDir(ps []string) string { return filepath.Dir(ps[0]) }
