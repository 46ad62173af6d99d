package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/pflag"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/check"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cloud"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cloud/endpoint"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cloud/localstack"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cloud/moto"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cloud/real"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/infra"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/platform"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
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
	var env, root string
	var af awsFlags
	fs := pflag.NewFlagSet("apply", pflag.ContinueOnError)
	fs.StringVar(&env, "env", "local", "environment (terraform/env/<env>.tfvars)")
	fs.StringVar(&root, "root", ".", "repository root (terraform/ beneath it)")
	af.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	p, err := platform.LoadTerraform(platform.TerraformDir(root), env)
	if err != nil {
		return err
	}
	c, err := af.newCloud(p.Static.Region)
	if err != nil {
		return err
	}
	o, applied, err := applyTier(ctx, &af, c, p)
	if err != nil {
		return err
	}
	if r := check.ApplyTier(o); r.Status == result.Skipped {
		fmt.Printf(" - %s: skipped: %s\n", r.Name, r.Message)
		return nil
	}
	fmt.Printf("applied node groups: %s\n", describe(applied))
	return nil
}

// applyTier is infra.ApplyTier with the flags' settings and progress on stdout.
func applyTier(ctx context.Context, af *awsFlags, c cloud.Cloud, p *platform.Platform) (infra.Outcome, *shape.Shape, error) {
	return infra.ApplyTier(ctx, infra.TierOptions{Platform: p, Cloud: c, Binary: af.binary, CLIConfig: af.cliConfig,
		Profile: af.profile, AllowedAccount: af.account, Progress: os.Stdout})
}
