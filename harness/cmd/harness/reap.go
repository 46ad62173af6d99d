package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cloud"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cloud/reap"
)

// runReap deletes what test runs left behind: resources whose expires-at tag is more than --older-than in the
// past (Resource Groups Tagging API, and each service it leaves out), in dependency order; with --run-id it is the leak scan of one run instead.
func runReap(ctx context.Context, args []string) error {
	var af awsFlags
	var olderThan time.Duration
	var dryRun bool
	var region, runID string
	fs := pflag.NewFlagSet("reap", pflag.ContinueOnError)
	af.register(fs)
	fs.DurationVar(&olderThan, "older-than", 0, "delete resources whose expires-at is more than this in the past (0: every expired one)")
	fs.BoolVar(&dryRun, "dry-run", false, "list what would be deleted, delete nothing")
	fs.StringVar(&region, "region", cloud.DefaultRegion, "AWS region")
	fs.StringVar(&runID, "run-id", "", "leak scan: list what still carries this run's run-id tag (exit 1 if anything) and delete nothing")
	if err := parse(fs, args); err != nil {
		return err
	}
	c, err := af.newCloud(region)
	if err != nil {
		return err
	}
	if err := c.Start(ctx); err != nil {
		return err
	}
	defer func() { _ = c.Stop(context.WithoutCancel(ctx)) }()
	cfg, err := c.Config(ctx)
	if err != nil {
		return err
	}
	if runID != "" {
		leaks, err := reap.Leaks(ctx, cfg, runID)
		if err != nil {
			return err
		}
		for _, r := range leaks {
			fmt.Println("leak:", r.ARN)
		}
		if len(leaks) > 0 {
			return fmt.Errorf("%d resource(s) still tagged run-id=%s", len(leaks), runID)
		}
		fmt.Printf("no resource tagged run-id=%s\n", runID)
		return nil
	}
	out, err := reap.Reap(ctx, cfg, time.Now(), olderThan, dryRun)
	if err != nil {
		return err
	}
	for _, s := range out.Deleted {
		fmt.Println("deleted:", s)
	}
	for _, s := range out.Kept {
		fmt.Println("kept:   ", s)
	}
	for _, s := range out.Failed {
		fmt.Println("FAILED: ", s)
	}
	fmt.Printf("%d deleted, %d kept, %d failed (%s, expires-at older than %s)\n", len(out.Deleted), len(out.Kept), len(out.Failed), c.Name(), olderThan)
	if len(out.Failed) > 0 {
		return errors.New("some expired resources could not be deleted")
	}
	return nil
}
