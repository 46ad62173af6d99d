package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/check"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/report"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/scenario"
)

func runScenarios(ctx context.Context, args []string) error {
	var f clusterFlags
	var chartsDir, reportDir string
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	f.register(fs)
	fs.StringVar(&chartsDir, "charts-dir", "", "directory of upstream charts as <dir>/<chart>")
	fs.StringVar(&reportDir, "report-dir", filepath.Join("test", "results", "scenarios"), "where junit-<scenario>.xml go")
	fs.SetOutput(os.Stderr)
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() == 0 {
		return fmt.Errorf("%w: name at least one scenario file, e.g. scenarios/gpu-capacity.yaml", errUsage)
	}
	// Every file is checked before any cluster starts: one bad file stops the run at once.
	var scenarios []*scenario.Scenario
	for _, path := range fs.Args() {
		s, err := scenario.Load(path)
		if err != nil {
			return err
		}
		scenarios = append(scenarios, s)
	}
	if err := os.MkdirAll(reportDir, 0o755); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	failed := false
	for _, s := range scenarios {
		fmt.Printf("scenario %s (%s): %s\n", s.Metadata.Name, s.File, s.Metadata.Description)
		results, err := runScenario(ctx, f, chartsDir, s)
		if err != nil {
			return fmt.Errorf("scenario %s: %w", s.Metadata.Name, err)
		}
		if err := report.JUnit(filepath.Join(reportDir, "junit-"+s.Metadata.Name+".xml"), "scenario-"+s.Metadata.Name, results); err != nil {
			return err
		}
		failed = failed || check.AnyFailed(results)
	}
	if failed {
		return errChecksFailed
	}
	return nil
}

func runScenario(ctx context.Context, f clusterFlags, chartsDir string, s *scenario.Scenario) ([]check.Result, error) {
	f.env = s.Spec.Environment
	c, _, stopCluster, err := f.start(ctx)
	if err != nil {
		return nil, err
	}
	defer stopCluster()
	r := &scenario.Runner{Root: filepath.Dir(filepath.Clean(f.terraform)), ChartsDir: chartsDir, Cluster: c,
		OnResult: func(res check.Result) { report.Progress(os.Stdout, res) }}
	return r.Run(ctx, s)
}
