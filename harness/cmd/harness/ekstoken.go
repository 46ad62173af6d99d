package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/spf13/pflag"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cloud"
)

// runEKSToken prints a client.authentication.k8s.io/v1beta1 ExecCredential for an EKS cluster, so kubeconfigs
// the harness writes for real EKS (the nightly tier) refresh their token without the AWS CLI.
func runEKSToken(ctx context.Context, args []string) error {
	var clusterName, region, profile string
	fs := pflag.NewFlagSet("eks-token", pflag.ContinueOnError)
	fs.StringVar(&clusterName, "cluster", "", "EKS cluster name (required)")
	fs.StringVar(&region, "region", cloud.DefaultRegion, "AWS region")
	fs.StringVar(&profile, "aws-profile", "", "shared-config profile (default: the SDK's default chain)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if clusterName == "" {
		return fmt.Errorf("%w: --cluster is required", errUsage)
	}
	opts := []func(*config.LoadOptions) error{config.WithRegion(region)}
	if profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(profile))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return err
	}
	tok, exp, err := cloud.EKSToken(ctx, cfg, clusterName)
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(map[string]any{
		"apiVersion": "client.authentication.k8s.io/v1beta1",
		"kind":       "ExecCredential",
		"status":     map[string]string{"token": tok, "expirationTimestamp": exp.UTC().Format(time.RFC3339)},
	})
}
