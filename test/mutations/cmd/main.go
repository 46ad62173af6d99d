// Command mutations runs the corpus of real-world mistakes (test/mutations/cases) on fresh copies of the
// repository through `harness check`'s default path and prints the table and the catch rate (make mutations).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"syscall"
	"time"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/check"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cluster/embedded"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/engine"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/test/mutations"
)

func main() {
	embedded.RunIfControlPlane() // first: this program hosts the embedded clusters' control planes
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "mutations:", err)
		os.Exit(1)
	}
}

func run() error {
	root, _ := os.Getwd()
	var (
		cfg    = mutations.Config{Env: "local"}
		report string
		only   string
		static bool
		min    float64
	)
	flag.StringVar(&cfg.Root, "root", root, "repository root")
	flag.StringVar(&cfg.Charts.Dir, "charts-dir", os.Getenv("HARNESS_CHARTS_DIR"), "the pinned upstream charts, unpacked")
	flag.StringVar(&report, "report", "", "markdown report (default <root>/test/results/mutations.md)")
	flag.StringVar(&only, "run", "", "only the cases whose id matches this regular expression")
	flag.BoolVar(&static, "static", false, "static phase only (no embedded cluster)")
	flag.BoolVar(&cfg.Checkov, "checkov", false, "run policy/checkov on every case (about 20 s each), not only where a case expects it")
	flag.Float64Var(&min, "min-rate", 90, "exit 1 when the catch rate is below this, or a harmless change fails")
	flag.Parse()
	cases, err := mutations.Load(filepath.Join(cfg.Root, "test", "mutations", "cases"))
	if err != nil {
		return err
	}
	if only != "" {
		re, err := regexp.Compile(only)
		if err != nil {
			return err
		}
		var keep []mutations.Case
		for _, c := range cases {
			if re.MatchString(c.ID) {
				keep = append(keep, c)
			}
		}
		cases = keep
	}
	cfg.CRDsDir = filepath.Join(cfg.Root, "bin", "crds")
	if _, err := os.Stat(filepath.Join(cfg.CRDsDir, "SOURCES")); err != nil {
		cfg.CRDsDir = ""
	}
	if _, err := os.Stat(filepath.Join(cfg.Root, "bin", "argocd")); err == nil {
		bin := filepath.Join(cfg.Root, "bin")
		cfg.ArgoCD = &engine.ArgoCD{Binary: filepath.Join(bin, "argocd"), HelmDir: bin, CRDsDir: filepath.Join(bin, "argocd-crds"), Timeout: 3 * time.Minute}
	}
	karp := engine.KarpenterConfigAt(cfg.Root)
	cfg.Karpenter = &karp
	cfg.KubeRay = check.KubeRayAt(cfg.Root)
	cfg.Cluster = !static
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var outs []mutations.Outcome
	for _, c := range cases {
		o := mutations.RunCase(ctx, cfg, c)
		outs = append(outs, o)
		mutations.Row(os.Stdout, o)
		if ctx.Err() != nil {
			break
		}
	}
	fmt.Println()
	mutations.Text(os.Stdout, outs)
	if report == "" {
		report = filepath.Join(cfg.Root, "test", "results", "mutations.md")
	}
	if err := os.MkdirAll(filepath.Dir(report), 0o755); err != nil {
		return err
	}
	f, err := os.Create(report)
	if err != nil {
		return err
	}
	mutations.Markdown(f, outs)
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Println("report:", report)
	s := mutations.Summarize(outs)
	if s.Rate() < min || s.FalseAlarms > 0 || s.Errors > 0 {
		return fmt.Errorf("%s", s)
	}
	return nil
}
