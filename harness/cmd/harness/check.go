package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/check"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/report"
)

// errChecksFailed makes the command exit 1 without repeating what the report already said.
var errChecksFailed = errors.New("checks failed")

func runCheck(ctx context.Context, args []string) error {
	var f clusterFlags
	var chartsDir, reportDir string
	var budget check.Budget
	var static bool
	fs := pflag.NewFlagSet("check", pflag.ContinueOnError)
	f.register(fs)
	fs.StringVar(&chartsDir, "charts-dir", "", "directory of upstream charts as <dir>/<chart> (apps whose chart is missing are skipped)")
	fs.StringVar(&reportDir, "report-dir", "", "where report.md, placement.svg and junit.xml go (default test/results/<env>)")
	fs.Float64Var(&budget.USD, "budget", check.DefaultBudget.USD, "budget in USD for one session")
	fs.Float64Var(&budget.Hours, "hours", check.DefaultBudget.Hours, "length of one session in hours")
	fs.BoolVar(&static, "static", false, "run only the checks that need no cluster")
	if err := parse(fs, args); err != nil {
		return err
	}
	if reportDir == "" {
		reportDir = filepath.Join("test", "results", f.env)
	}
	if err := os.MkdirAll(reportDir, 0o755); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	opts := check.Options{Root: filepath.Dir(filepath.Clean(f.terraform)), Env: f.env, ChartsDir: chartsDir, Budget: budget,
		OnResult: func(r check.Result) { report.Progress(os.Stdout, r) }}
	if !static {
		c, _, stopCluster, err := f.start(ctx)
		if err != nil {
			return err
		}
		defer stopCluster()
		opts.Cluster = c
	}
	out, err := check.Run(ctx, opts)
	if err != nil {
		return err
	}
	fmt.Println()
	report.Summary(os.Stdout, out.Results)
	if err := report.JUnit(filepath.Join(reportDir, "junit.xml"), "harness-check-"+f.env, out.Results); err != nil {
		return err
	}
	if err := report.Markdown(reportDir, "harness check --env "+f.env, out); err != nil {
		return err
	}
	fmt.Printf("report: %s\n", filepath.Join(reportDir, "report.md"))
	if check.AnyFailed(out.Results) {
		return errChecksFailed
	}
	return nil
}
