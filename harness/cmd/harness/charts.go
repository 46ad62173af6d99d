package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/pflag"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/deploy"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/platform"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/report"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/shape"
)

// runCharts is `harness charts pull`: fill the chart cache once (a laptop with network) with every upstream chart
// the environments' Applications pin, verifying or recording each archive's sha256 in helm/charts.lock. Later
// `harness check` and `harness run` find them in the cache without network.
func runCharts(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "pull" {
		return fmt.Errorf("%w: harness charts pull [--env ENV]... [--charts-cache DIR] [--root .]", errUsage)
	}
	var root, cache string
	var envs []string
	fs := pflag.NewFlagSet("charts pull", pflag.ContinueOnError)
	fs.StringVar(&root, "root", ".", "repository root")
	fs.StringArrayVar(&envs, "env", nil, "environment whose Applications to pull (repeatable; default: every terraform/env/*.tfvars)")
	fs.StringVar(&cache, "charts-cache", defaultChartsCache(), "where pulled charts are kept, by name and version")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if len(envs) == 0 {
		envs = shape.Environments(platform.TerraformDir(root))
	}
	lockPath := filepath.Join(root, deploy.LockFile)
	lock, err := deploy.ReadLock(lockPath)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	var failed []string
	pulled := 0
	for _, env := range envs {
		p, err := platform.Load(root, env)
		if err != nil {
			return err
		}
		for _, a := range p.Apps {
			if a.Chart == "" || a.InRepo(platform.RepoURL) || seen[a.RepoURL+a.Chart+a.TargetRevision] {
				continue
			}
			seen[a.RepoURL+a.Chart+a.TargetRevision] = true
			step := report.Begin(os.Stdout, fmt.Sprintf("pull %s %s from %s", a.Chart, a.TargetRevision, a.RepoURL))
			_, digest, err := deploy.FetchChart(ctx, a.RepoURL, a.Chart, a.TargetRevision, cache, lock.Digest(a.RepoURL, a.Chart, a.TargetRevision), 2*time.Minute)
			if step.End(err) != nil {
				failed = append(failed, a.Chart)
				continue
			}
			lock.Set(deploy.LockedChart{Name: a.Chart, Version: a.TargetRevision, Repo: a.RepoURL, SHA256: digest})
			pulled++
		}
	}
	if err := lock.Write(lockPath); err != nil {
		return err
	}
	fmt.Printf("%d chart(s) in %s; digests in %s\n", pulled, cache, lockPath)
	if len(failed) > 0 {
		return fmt.Errorf("%d chart(s) not pulled: %v", len(failed), failed)
	}
	return nil
}
