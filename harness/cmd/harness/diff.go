package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/change"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/check"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cluster"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cluster/embedded"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/engine"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/platform"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/report"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
)

// runDiff rehearses a change: the base revision synced by the real Argo CD, then the working tree (uncommitted
// changes included) synced over it, the transition judged, and a reviewer's report written (diff.md).
func runDiff(ctx context.Context, args []string) (err error) {
	var f clusterFlags
	var base, reportDir string
	var partial bool
	var allowed []string
	var charts engine.Charts
	fs := pflag.NewFlagSet("diff", pflag.ContinueOnError)
	f.register(fs)
	fs.StringVar(&base, "base", "", "the revision the change is rehearsed over (default: the merge base of HEAD with the main branch)")
	fs.StringArrayVar(&allowed, "allow-data-loss", nil, "a data-holding object whose deletion or replacement is meant, as \"Kind namespace/name\" (\"Kind name\" for a CRD); repeatable")
	fs.StringVar(&charts.Dir, "charts-dir", os.Getenv("HARNESS_CHARTS_DIR"), "upstream charts unpacked as <dir>/<chart> (default $HARNESS_CHARTS_DIR)")
	fs.BoolVar(&charts.Fetch, "fetch-charts", false, "pull upstream charts that --charts-dir lacks from their repositories (needs network)")
	fs.StringVar(&charts.Cache, "charts-cache", defaultChartsCache(), "where fetched charts are kept, by name and version")
	fs.StringVar(&reportDir, "report-dir", "", "where diff.md goes (default test/results/diff)")
	fs.BoolVar(&partial, "partial", false, "accept a run in which Applications whose charts are not available are not judged (otherwise it exits 3, incomplete)")
	if err := parse(fs, args); err != nil {
		return err
	}
	for _, a := range allowed {
		if kind, name, ok := strings.Cut(a, " "); !ok || kind == "" || name == "" {
			return fmt.Errorf("%w: --allow-data-loss %q: want \"Kind namespace/name\" (or \"Kind name\")", errUsage, a)
		}
	}
	if b, _ := cluster.Lookup(f.backend); !b.Capabilities.Creates {
		return fmt.Errorf("%w: harness diff syncs a base and a change onto a cluster it creates; --backend %s is not one", errUsage, f.backend)
	}
	head, err := f.load(f.env)
	if err != nil {
		return err
	}
	if base == "" {
		if base, err = change.MergeBase(ctx, f.root); err != nil {
			return err
		}
	}
	// The base's tree lives in a run directory of its own (harness-diff-*), marked as this process's: removed on
	// every exit path, and by the next run's sweep if this one is SIGKILLed.
	runDir, err := os.MkdirTemp(f.runDir, "harness-diff-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(runDir)
	if err := embedded.MarkOwned(runDir); err != nil {
		return err
	}
	baseDir := filepath.Join(runDir, "base")
	if err := os.Mkdir(baseDir, 0o700); err != nil {
		return err
	}
	sha, err := change.Checkout(ctx, f.root, base, baseDir)
	if err != nil {
		return err
	}
	pb, err := platform.Load(baseDir, f.env)
	if err != nil {
		return fmt.Errorf("the base %.12s: %w", sha, err)
	}
	if reportDir == "" {
		reportDir = filepath.Join(f.root, "test", "results", "diff")
	}
	if err := os.MkdirAll(reportDir, 0o755); err != nil {
		return err
	}
	// The cluster runs what the base declares: Terraform, not Argo CD, would apply a change of the node groups.
	c, _, stopCluster, err := f.start(ctx, pb)
	if err != nil {
		return err
	}
	defer func() { stopCluster(keepFor(ctx, err)) }()
	crdsDir := filepath.Join(f.root, "bin", "crds")
	eb, err := engine.NewEnv(pb, c, charts, crdsDir)
	if err != nil {
		return err
	}
	eh, err := engine.NewEnv(head, c, charts, crdsDir)
	if err != nil {
		return err
	}
	argo, cleanup, err := argoCDFor(f, c, "argocd", false)
	if err != nil {
		return err
	}
	defer cleanup()
	karp := engine.KarpenterConfigAt(f.root)
	rev, runErr := check.Diff(ctx, check.DiffRun{Base: eb, Head: eh, BaseRev: sha, HeadRev: "the working tree", ArgoCD: *argo, Allowed: allowed, Karpenter: &karp, KubeRay: check.KubeRayAt(f.root)},
		func(r result.Result) { report.Progress(os.Stdout, r) })
	if runErr != nil {
		if ctx.Err() != nil {
			return runErr
		}
		r := check.Unfinished("the diff", runErr)
		report.Progress(os.Stdout, r)
		rev.Results = append(rev.Results, r)
	}
	fmt.Println()
	report.Summary(os.Stdout, rev.Results)
	path, err := rev.WriteMarkdown(reportDir)
	if err != nil {
		return err
	}
	fmt.Printf("report: %s (%s)\n", path, rev.Took.Round(time.Second))
	return verdict(rev.Results, partial)
}
