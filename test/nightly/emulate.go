package nightly

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cloud"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cloud/reap"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cluster"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/infra"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/platform"
)

var awsEffects = map[string]ekstypes.TaintEffect{"NoSchedule": ekstypes.TaintEffectNoSchedule, "NoExecute": ekstypes.TaintEffectNoExecute, "PreferNoSchedule": ekstypes.TaintEffectPreferNoSchedule}

// EmulateApply creates on an emulator (c, started) what the nightly's `terraform apply` creates and the flow
// reads — the EKS cluster and its managed node groups as the platform's Terraform declares them, the artifacts
// bucket of the GitOps Bridge (versioned, KMS-encrypted, public access blocked) — every resource tagged with
// run-id and expires-at as terraform/main.tf tags them. Used where the Terraform AWS provider cannot be installed
// (make test here): the flow after apply then runs for real on what exists. The Up's Teardown deletes exactly
// what was created (as `terraform destroy` deletes its state) and stops c.
func EmulateApply(ctx context.Context, p *platform.Platform, c cloud.Cloud, runID, expiresAt string, progress io.Writer) (*infra.Up, error) {
	if c.Name() == "aws" {
		return nil, errors.New("EmulateApply creates resources through the SDK: only on an emulator")
	}
	cfg, err := c.Config(ctx)
	if err != nil {
		return nil, err
	}
	s := p.Static.Clone()
	bucket := p.Bridge.Leaves["artifactsBucket"]
	if bucket == "" || strings.Contains(bucket, "known-after-apply") {
		return nil, fmt.Errorf("the GitOps Bridge of %s has no artifacts bucket name (%q)", p.Env, bucket)
	}
	tags := map[string]string{reap.TagRunID: runID, reap.TagExpiresAt: expiresAt, "Project": s.ClusterName}
	var created []reap.Resource
	var mu sync.Mutex
	record := func(arn string) {
		mu.Lock()
		defer mu.Unlock()
		created = append(created, reap.FromARN(arn))
	}
	td := infra.NewTeardownFunc("destroy what the emulated apply created (as terraform destroy deletes its state)", func(ctx context.Context) error {
		mu.Lock()
		rs := append([]reap.Resource(nil), created...)
		mu.Unlock()
		out, err := reap.Delete(ctx, cfg, rs)
		if err == nil && len(out.Failed) > 0 {
			err = fmt.Errorf("not deleted: %v", out.Failed)
		}
		return err
	}, nil, c, progress)
	up := &infra.Up{Shape: s, Bridge: p.Bridge, Cloud: c, Teardown: td, Outputs: map[string]any{
		"cluster_name": s.ClusterName, "artifacts_bucket": bucket}}

	e := eks.NewFromConfig(cfg)
	cl, err := e.CreateCluster(ctx, &eks.CreateClusterInput{Name: aws.String(s.ClusterName), Version: aws.String(s.KubernetesVersion),
		RoleArn:            aws.String("arn:aws:iam::123456789012:role/" + s.ClusterName + "-cluster"),
		ResourcesVpcConfig: &ekstypes.VpcConfigRequest{SubnetIds: []string{"subnet-a", "subnet-b"}}, Tags: tags})
	if err != nil {
		return up, fmt.Errorf("create cluster %s: %w", s.ClusterName, err)
	}
	record(aws.ToString(cl.Cluster.Arn))
	up.Outputs["cluster_endpoint"] = aws.ToString(cl.Cluster.Endpoint)
	for _, g := range s.Groups {
		var taints []ekstypes.Taint
		for _, tt := range g.Taints {
			taints = append(taints, ekstypes.Taint{Key: aws.String(tt.Key), Value: aws.String(tt.Value), Effect: awsEffects[string(tt.Effect)]})
		}
		ng, err := e.CreateNodegroup(ctx, &eks.CreateNodegroupInput{ClusterName: aws.String(s.ClusterName), NodegroupName: aws.String(g.Name),
			NodeRole: aws.String("arn:aws:iam::123456789012:role/" + s.ClusterName + "-node"), Subnets: []string{"subnet-a"},
			InstanceTypes: g.InstanceTypes, CapacityType: ekstypes.CapacityTypes(g.CapacityType), Labels: g.Labels, Taints: taints, Tags: tags,
			ScalingConfig: &ekstypes.NodegroupScalingConfig{MinSize: aws.Int32(int32(g.MinSize)), MaxSize: aws.Int32(int32(g.MaxSize)), DesiredSize: aws.Int32(int32(g.DesiredSize))}})
		if err != nil {
			return up, fmt.Errorf("create node group %s: %w", g.Name, err)
		}
		record(aws.ToString(ng.Nodegroup.NodegroupArn))
	}
	sc := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := sc.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		return up, fmt.Errorf("create bucket %s: %w", bucket, err)
	}
	record("arn:aws:s3:::" + bucket)
	var ts []s3types.Tag
	for k, v := range tags {
		ts = append(ts, s3types.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	for what, call := range map[string]func() error{
		"tags": func() error {
			_, err := sc.PutBucketTagging(ctx, &s3.PutBucketTaggingInput{Bucket: aws.String(bucket), Tagging: &s3types.Tagging{TagSet: ts}})
			return err
		},
		"versioning": func() error {
			_, err := sc.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(bucket),
				VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled}})
			return err
		},
		"encryption": func() error {
			_, err := sc.PutBucketEncryption(ctx, &s3.PutBucketEncryptionInput{Bucket: aws.String(bucket),
				ServerSideEncryptionConfiguration: &s3types.ServerSideEncryptionConfiguration{Rules: []s3types.ServerSideEncryptionRule{{
					ApplyServerSideEncryptionByDefault: &s3types.ServerSideEncryptionByDefault{SSEAlgorithm: s3types.ServerSideEncryptionAwsKms}}}}})
			return err
		},
		"public access block": func() error {
			_, err := sc.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{Bucket: aws.String(bucket),
				PublicAccessBlockConfiguration: &s3types.PublicAccessBlockConfiguration{BlockPublicAcls: aws.Bool(true),
					BlockPublicPolicy: aws.Bool(true), IgnorePublicAcls: aws.Bool(true), RestrictPublicBuckets: aws.Bool(true)}})
			return err
		},
	} {
		if err := call(); err != nil {
			return up, fmt.Errorf("bucket %s %s: %w", bucket, what, err)
		}
	}
	return up, nil
}

// FollowNodeGroups plays EKS's managed node group controller for an emulated cluster until the returned stop is
// called: every poll, each node group's desired size on the emulator (what UpdateNodegroupConfig set) becomes
// that many nodes of the group in the cluster (the embedded cluster's ScaleGroup adds or removes nodes), as
// EKS's Auto Scaling group launches or terminates instances. Errors go to log.
func FollowNodeGroups(ctx context.Context, cfg aws.Config, clusterName string, sizes map[string]int, nodes cluster.Scaler, poll time.Duration, log func(string, ...any)) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	e := eks.NewFromConfig(cfg)
	have := map[string]int{}
	for g, n := range sizes {
		have[g] = n
	}
	go func() {
		defer close(done)
		tick := time.NewTicker(poll)
		defer tick.Stop()
		for {
			for g, n := range have {
				out, err := e.DescribeNodegroup(ctx, &eks.DescribeNodegroupInput{ClusterName: aws.String(clusterName), NodegroupName: aws.String(g)})
				if err != nil || out.Nodegroup.ScalingConfig == nil || out.Nodegroup.ScalingConfig.DesiredSize == nil {
					if ctx.Err() == nil {
						log("node group %s: %v", g, err)
					}
					continue
				}
				want := int(*out.Nodegroup.ScalingConfig.DesiredSize)
				if want == n {
					continue
				}
				if err := nodes.ScaleGroup(ctx, g, want); err != nil {
					if ctx.Err() == nil {
						log("node group %s to %d nodes: %v", g, want, err)
					}
					continue
				}
				log("node group %s: %d -> %d nodes (desired size on EKS)", g, n, want)
				have[g] = want
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}
