package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"syscall"
	"time"

	"github.com/gruntwork-io/terratest/modules/logger"
	"github.com/spf13/pflag"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/check"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cloud"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cloud/endpoint"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cloud/localstack"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cloud/moto"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cloud/real"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/infra"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/report"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/shape"
)

// awsFlags choose the AWS backend and the Terraform binary for the apply tier.
type awsFlags struct {
	kind, endpoint, account, profile, venv, motoLog, localstackImage, binary, cliConfig string
}

func (f *awsFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.kind, "aws", "", "AWS backend: moto (default), localstack (needs Docker), endpoint (--endpoint URL) or aws (real; needs --aws-account)")
	fs.StringVar(&f.endpoint, "endpoint", "", "AWS endpoint URL of a running emulator (implies --aws endpoint)")
	fs.StringVar(&f.account, "aws-account", os.Getenv("HARNESS_AWS_ACCOUNT"), "aws backend: the only account ID the run may use (checked with STS first)")
	fs.StringVar(&f.profile, "aws-profile", "", "aws backend: shared-config profile (default: the SDK's default chain)")
	fs.StringVar(&f.venv, "venv", ".venv", "moto backend: virtualenv for moto_server (created when missing)")
	fs.StringVar(&f.motoLog, "moto-log", "", "moto backend: write moto_server's output to this file (default: discard)")
	fs.StringVar(&f.localstackImage, "localstack-image", localstack.DefaultImage, "localstack backend: image (LOCALSTACK_AUTH_TOKEN is passed through)")
	fs.StringVar(&f.binary, "binary", "", "terraform or tofu binary (default: ./bin/tofu, ./bin/terraform, then PATH)")
	fs.StringVar(&f.cliConfig, "cli-config", os.Getenv("TF_CLI_CONFIG_FILE"), "Terraform CLI config with a provider mirror or plugin cache")
}

// backend is the --aws value, defaulted.
func (f *awsFlags) backend() string {
	switch {
	case f.kind != "":
		return f.kind
	case f.endpoint != "":
		return "endpoint"
	}
	return "moto"
}

// newCloud builds the backend the flags ask for.
func (f *awsFlags) newCloud(region string) (cloud.Cloud, error) {
	kind := f.backend()
	if f.endpoint != "" && kind != "endpoint" {
		return nil, fmt.Errorf("%w: --endpoint goes with --aws endpoint, not --aws %s", errUsage, kind)
	}
	switch kind {
	case "moto":
		return moto.New(moto.Config{Venv: f.venv, LogFile: f.motoLog, Region: region})
	case "localstack":
		return localstack.New(localstack.Config{Image: f.localstackImage, Region: region}), nil
	case "endpoint":
		if f.endpoint == "" {
			return nil, fmt.Errorf("%w: --aws endpoint needs --endpoint URL", errUsage)
		}
		return endpoint.New(endpoint.Config{URL: f.endpoint, Region: region})
	case "aws":
		return real.New(real.Config{Account: f.account, Region: region, Profile: f.profile})
	default:
		return nil, fmt.Errorf("%w: --aws %q: want moto, localstack, endpoint or aws", errUsage, kind)
	}
}

// runApply runs the apply tier on its own: the same terraform/ applied against the chosen AWS backend, then
// planned again (must be empty) and destroyed. Where no provider can be installed it prints the skip line and
// exits 0: the run goes on.
func runApply(ctx context.Context, args []string) error {
	var env, terraformDir string
	var af awsFlags
	fs := pflag.NewFlagSet("apply", pflag.ContinueOnError)
	fs.StringVar(&env, "env", "local", "environment (terraform/env/<env>.tfvars)")
	fs.StringVar(&terraformDir, "terraform", "terraform", "Terraform root module")
	af.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	r, applied, err := applyTier(ctx, &af, terraformDir, env)
	if err != nil {
		return err
	}
	if r.Status == check.Skipped {
		fmt.Printf(" - %s: skipped: %s\n", r.Name, r.Message)
		return nil
	}
	fmt.Printf("applied node groups: %s\n", describe(applied))
	return nil
}

// applyTier runs init → apply → outputs → plan (no changes) → destroy on the chosen backend and returns its
// result and, when it ran, the shape AWS created (the applied node groups). A provider that cannot be installed
// is a skipped result, not an error; a failed apply is an error.
func applyTier(ctx context.Context, af *awsFlags, terraformDir, env string) (check.Result, *shape.Shape, error) {
	const name = "apply-tier"
	static, err := shape.Load(terraformDir, env)
	if err != nil {
		return check.Result{}, nil, err
	}
	// Terratest's retry loop logs through a process-wide logger; the command reports through its own lines.
	logger.Default = logger.Discard
	c, err := af.newCloud(static.Region)
	if err != nil {
		return check.Result{}, nil, err
	}
	if af.backend() != "aws" { // an emulator: never with real-looking credentials
		if err := cloud.RefuseRealCredentials(); err != nil {
			return check.Result{}, nil, err
		}
	}
	// Init first: where the provider cannot be installed, skip before starting (or installing) an emulator.
	o := infra.ApplyOptions{Source: terraformDir, Env: env, Binary: af.binary, CLIConfig: af.cliConfig, Region: static.Region}
	if af.backend() == "aws" { // Terraform uses the credentials the account check used, and refuses other accounts
		o.Profile, o.AllowedAccount = af.profile, af.account
	}
	ws, err := infra.Prepare(ctx, o)
	if err != nil {
		return skipped(name, err)
	}
	defer func() {
		if cerr := ws.Close(); cerr != nil {
			fmt.Fprintln(os.Stderr, "harness:", cerr)
		}
	}()
	step := report.Begin(os.Stdout, "start AWS backend "+af.backend())
	if err := step.End(c.Start(ctx)); err != nil {
		return check.Result{}, nil, err
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		_ = report.Begin(os.Stdout, "stop AWS backend "+af.backend()).End(c.Stop(stopCtx))
	}()
	target := c.Endpoint()
	if target == "" {
		target = "real AWS"
	}
	step = report.Begin(os.Stdout, "apply tier: init done; apply, plan (no changes), destroy against "+target)
	t0 := time.Now()
	applied, err := ws.Apply(ctx, c.Endpoint())
	if err := step.End(err); err != nil {
		return check.Result{}, nil, err
	}
	keys := make([]string, 0, len(applied.Outputs))
	for k := range applied.Outputs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	// What AWS created is the shape to emulate from here on.
	s, err := static.WithAppliedNodeGroups(applied.Outputs["node_groups"])
	if err != nil {
		return check.Result{}, nil, err
	}
	return check.Result{Name: name, Status: check.Passed, Duration: time.Since(t0),
		Message: fmt.Sprintf("applied against %s, second plan empty, destroyed; outputs %v", target, keys)}, s, nil
}

func skipped(name string, err error) (check.Result, *shape.Shape, error) {
	var skip *infra.SkipError
	if errors.As(err, &skip) {
		return check.Result{Name: name, Status: check.Skipped, Message: skip.Reason}, nil, nil
	}
	return check.Result{}, nil, err
}
