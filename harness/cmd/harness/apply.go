package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"github.com/gruntwork-io/terratest/modules/logger"
	"github.com/spf13/pflag"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cloud/moto"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/infra"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/report"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/shape"
)

// runApply runs the apply tier: the same terraform/ applied against moto (default) or an endpoint, then
// planned again (must be empty) and destroyed. Where no provider can be installed it prints the skip line and
// exits 0: the run goes on.
func runApply(ctx context.Context, args []string) error {
	var env, terraformDir, endpoint, binary, cliConfig, venv, motoLog string
	fs := pflag.NewFlagSet("apply", pflag.ContinueOnError)
	fs.StringVar(&env, "env", "local", "environment (terraform/env/<env>.tfvars)")
	fs.StringVar(&terraformDir, "terraform", "terraform", "Terraform root module")
	fs.StringVar(&endpoint, "endpoint", "", "AWS endpoint URL of a running emulator (default: start moto)")
	fs.StringVar(&binary, "binary", "", "terraform or tofu binary (default: ./bin/tofu, ./bin/terraform, then PATH)")
	fs.StringVar(&cliConfig, "cli-config", os.Getenv("TF_CLI_CONFIG_FILE"), "Terraform CLI config with a provider mirror or plugin cache")
	fs.StringVar(&venv, "venv", ".venv", "virtualenv for moto_server (created when missing)")
	fs.StringVar(&motoLog, "moto-log", "", "write moto_server's output to this file (default: discard)")
	if err := parse(fs, args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Terratest's retry loop logs through a process-wide logger; the command reports through its own lines.
	logger.Default = logger.Discard
	if binary == "" {
		var err error
		if binary, err = infra.FindBinary(); err != nil {
			return skipLine(err)
		}
	}
	if endpoint == "" {
		m, err := moto.New(moto.Config{Venv: venv, LogFile: motoLog})
		if err != nil {
			return err
		}
		step := report.Begin(os.Stdout, "start moto")
		if err := step.End(m.Start(ctx)); err != nil {
			return err
		}
		defer func() {
			stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			_ = report.Begin(os.Stdout, "stop moto").End(m.Stop(stopCtx))
		}()
		endpoint = m.Endpoint()
	}
	step := report.Begin(os.Stdout, fmt.Sprintf("apply tier: %s init, apply, plan (no changes), destroy against %s", filepath.Base(binary), endpoint))
	applied, err := infra.Apply(ctx, infra.ApplyOptions{Source: terraformDir, Env: env, Endpoint: endpoint, Binary: binary, CLIConfig: cliConfig})
	var skip *infra.SkipError
	if errors.As(err, &skip) {
		return skipLine(err)
	}
	if err := step.End(err); err != nil {
		return err
	}
	keys := make([]string, 0, len(applied.Outputs))
	for k := range applied.Outputs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Printf("outputs: %v\n", keys)
	// What AWS created is the shape to emulate from here on.
	static, err := shape.Load(terraformDir, env)
	if err != nil {
		return err
	}
	s, err := static.WithAppliedNodeGroups(applied.Outputs["node_groups"])
	if err != nil {
		return err
	}
	fmt.Printf("applied node groups: %s\n", describe(s))
	return nil
}

func skipLine(err error) error {
	var skip *infra.SkipError
	if errors.As(err, &skip) {
		fmt.Printf(" - apply-tier: skipped: %s\n", skip.Reason)
		return nil
	}
	return err
}
