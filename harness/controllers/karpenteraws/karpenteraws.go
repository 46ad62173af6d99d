// Package karpenteraws runs the real Karpenter AWS provider in kwok mode (github.com/aws/karpenter-provider-aws
// /kwok, built unchanged by `make karpenter-aws`) against an embedded cluster and an AWS emulator: the provider
// resolves EC2NodeClasses (subnets and security groups by their selector terms, the instance profile, the AMI
// alias through SSM), reads instance types and offerings from EC2 and launches through launch templates and
// CreateFleet; only the EC2 calls on instances and launch templates are answered by its kwok client, which keeps
// them in memory and creates kwok nodes in place of instances. Everything else goes to the emulator; the Price List API, SSM and IAM
// go through a publicdata.Server (public parameters and prices answered there, IAM's ListInstanceProfiles
// corrected, the rest forwarded).
package karpenteraws

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/internal/ports"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/internal/proc"
)

// Version is the provider tools/karpenter builds (its go.mod pins github.com/aws/karpenter-provider-aws; a test
// holds them equal) and whose EC2NodeClass CRD make crds copies.
const Version = "v1.15.0"

// Config says how to run the provider.
type Config struct {
	// Binary is the AWS provider's build from tools/karpenter (make karpenter-aws: bin/karpenter-aws).
	Binary string
	// Kubeconfig is the cluster's admin kubeconfig; APIServer its URL (CLUSTER_ENDPOINT: without it the provider
	// asks EKS DescribeCluster for the endpoint).
	Kubeconfig, APIServer string
	// ClusterName is the EKS cluster's name (terraform's cluster_name): the provider tags what it creates with it
	// and, for AL2023, reads the service CIDR through EKS DescribeCluster.
	ClusterName string
	// Region, Emulator: the AWS region and the emulator's endpoint URL; PublicData the publicdata.Server's URL
	// (Pricing, SSM and IAM).
	Region, Emulator, PublicData string
	// InterruptionQueue is the SQS queue's name (empty: no interruption handling).
	InterruptionQueue string
	// Dir holds the provider's log; the caller removes it.
	Dir string
	// LogLevel is the provider's (default info).
	LogLevel string
}

// Controller is the running provider.
type Controller struct {
	proc *proc.Process
	// Log is the provider's log file.
	Log string
}

// Start starts the provider (leader election off: one replica) and waits until its health probe answers. It binds
// its metrics and health ports on every interface (":port" upstream); the harness gives it free ones.
func Start(ctx context.Context, cfg Config) (*Controller, error) {
	if _, err := os.Stat(cfg.Binary); err != nil {
		return nil, fmt.Errorf("%s: run `make karpenter-aws`: %w", cfg.Binary, err)
	}
	for name, v := range map[string]string{"Kubeconfig": cfg.Kubeconfig, "APIServer": cfg.APIServer, "ClusterName": cfg.ClusterName,
		"Region": cfg.Region, "Emulator": cfg.Emulator, "PublicData": cfg.PublicData, "Dir": cfg.Dir} {
		if v == "" {
			return nil, fmt.Errorf("karpenteraws: Config.%s is required", name)
		}
	}
	free, err := ports.FreeN(2)
	if err != nil {
		return nil, err
	}
	metrics, health := free[0], free[1]
	if cfg.LogLevel == "" {
		cfg.LogLevel = "info"
	}
	logPath := filepath.Join(cfg.Dir, "karpenter-aws.log")
	url := fmt.Sprintf("http://127.0.0.1:%d/readyz", health)
	env := append(environ(), "KUBECONFIG="+cfg.Kubeconfig, "CLUSTER_NAME="+cfg.ClusterName, "CLUSTER_ENDPOINT="+cfg.APIServer,
		"SYSTEM_NAMESPACE=kube-system", "DISABLE_LEADER_ELECTION=true", "LOG_LEVEL="+cfg.LogLevel,
		"METRICS_PORT="+strconv.Itoa(metrics), "HEALTH_PROBE_PORT="+strconv.Itoa(health),
		"BATCH_IDLE_DURATION=200ms", "BATCH_MAX_DURATION=2s",
		"AWS_REGION="+cfg.Region, "AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing", "AWS_EC2_METADATA_DISABLED=true",
		"AWS_ENDPOINT_URL="+cfg.Emulator, "AWS_ENDPOINT_URL_PRICING="+cfg.PublicData, "AWS_ENDPOINT_URL_SSM="+cfg.PublicData, "AWS_ENDPOINT_URL_IAM="+cfg.PublicData,
		"AWS_ENDPOINT_URL_EC2="+cfg.PublicData)
	if cfg.InterruptionQueue != "" {
		env = append(env, "INTERRUPTION_QUEUE="+cfg.InterruptionQueue)
	}
	p, err := proc.Start(ctx, proc.Spec{Name: "karpenter-aws", Path: cfg.Binary, Env: env, Log: logPath, PollInterval: 200 * time.Millisecond,
		// At start it reads prices, instance types (1,377 from moto, unpaged) and offerings: a loaded machine needs longer
		// than the default minute.
		StartTimeout: 3 * time.Minute,
		Ready:        proc.HTTPReady(url)})
	if err != nil {
		return nil, err
	}
	return &Controller{proc: p, Log: logPath}, nil
}

// environ is the harness's environment without AWS settings that would point the provider elsewhere (a
// profile, real credentials, another endpoint).
func environ() []string {
	var out []string
	for _, kv := range os.Environ() {
		if len(kv) >= 4 && kv[:4] == "AWS_" {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// Stop stops the provider (SIGTERM, SIGKILL after 10 s).
func (c *Controller) Stop() {
	if c == nil || c.proc == nil {
		return
	}
	_ = c.proc.Stop()
}
