package local

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cloud/reap"
)

// TestLeakScanAndReapAgainstMoto: resources a run left behind with its run-id are leaks (another run's are not);
// `harness reap` deletes what expired (a subnet before its VPC, a bucket with its objects) and keeps the rest.
func TestLeakScanAndReapAgainstMoto(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	m := startMoto(t, ctx)
	cfg, err := m.Config(ctx)
	require.NoError(t, err)
	past := time.Now().Add(-2 * time.Hour).UTC().Format(time.RFC3339)
	future := time.Now().Add(6 * time.Hour).UTC().Format(time.RFC3339)

	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	bucket := func(name string, tags map[string]string) {
		_, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)})
		require.NoError(t, err)
		var ts []s3types.Tag
		for k, v := range tags {
			ts = append(ts, s3types.Tag{Key: aws.String(k), Value: aws.String(v)})
		}
		_, err = s3c.PutBucketTagging(ctx, &s3.PutBucketTaggingInput{Bucket: aws.String(name), Tagging: &s3types.Tagging{TagSet: ts}})
		require.NoError(t, err)
	}
	bucket("mlops-nightly-artifacts-leaked", map[string]string{reap.TagRunID: "run-1", reap.TagExpiresAt: past})
	_, err = s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("mlops-nightly-artifacts-leaked"), Key: aws.String("models/x/model.joblib"), Body: nil})
	require.NoError(t, err)
	bucket("mlops-nightly-artifacts-young", map[string]string{reap.TagRunID: "run-2", reap.TagExpiresAt: future})

	ec2c := ec2.NewFromConfig(cfg)
	tags := func(kind ec2types.ResourceType) []ec2types.TagSpecification {
		return []ec2types.TagSpecification{{ResourceType: kind, Tags: []ec2types.Tag{
			{Key: aws.String(reap.TagRunID), Value: aws.String("run-1")}, {Key: aws.String(reap.TagExpiresAt), Value: aws.String(past)}}}}
	}
	vpc, err := ec2c.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.42.0.0/16"), TagSpecifications: tags(ec2types.ResourceTypeVpc)})
	require.NoError(t, err)
	_, err = ec2c.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: vpc.Vpc.VpcId, CidrBlock: aws.String("10.42.1.0/24"), TagSpecifications: tags(ec2types.ResourceTypeSubnet)})
	require.NoError(t, err)

	igw, err := ec2c.CreateInternetGateway(ctx, &ec2.CreateInternetGatewayInput{TagSpecifications: tags(ec2types.ResourceTypeInternetGateway)})
	require.NoError(t, err)
	_, err = ec2c.AttachInternetGateway(ctx, &ec2.AttachInternetGatewayInput{InternetGatewayId: igw.InternetGateway.InternetGatewayId, VpcId: vpc.Vpc.VpcId})
	require.NoError(t, err)
	// A node of the run, terminated by its destroy: EC2 keeps listing it (with its tags) for a while; not a leak.
	images, err := ec2c.DescribeImages(ctx, &ec2.DescribeImagesInput{})
	require.NoError(t, err)
	require.NotEmpty(t, images.Images)
	inst, err := ec2c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: images.Images[0].ImageId, MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeInstance, Tags: []ec2types.Tag{{Key: aws.String(reap.TagRunID), Value: aws.String("run-1")}}}}})
	require.NoError(t, err)
	_, err = ec2c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{aws.ToString(inst.Instances[0].InstanceId)}})
	require.NoError(t, err)

	leaks, err := reap.Leaks(ctx, cfg, "run-1")
	require.NoError(t, err)
	var types []string
	for _, r := range leaks {
		types = append(types, r.Type+" "+r.ID)
	}
	assert.Contains(t, types, "s3:bucket mlops-nightly-artifacts-leaked")
	assert.Contains(t, types, "ec2:vpc "+aws.ToString(vpc.Vpc.VpcId))
	assert.Len(t, leaks, 4, "bucket, VPC, subnet and attached internet gateway of run-1; not the terminated instance, not run-2's bucket: %v", types)

	dry, err := reap.Reap(ctx, cfg, time.Now(), 0, true)
	require.NoError(t, err)
	assert.Len(t, dry.Deleted, 4)
	out, err := reap.Reap(ctx, cfg, time.Now(), 0, false)
	require.NoError(t, err)
	assert.Empty(t, out.Failed)
	assert.Len(t, out.Deleted, 4, "the gateway detached before its deletion, the subnet before the VPC")
	assert.Len(t, out.Kept, 1)
	assert.Contains(t, out.Kept[0], "mlops-nightly-artifacts-young")
	leaks, err = reap.Leaks(ctx, cfg, "run-1")
	require.NoError(t, err)
	assert.Empty(t, leaks, "reaped")

	// --older-than: an expiry 2 h ago is not older than 3 h.
	bucket("mlops-nightly-artifacts-recent", map[string]string{reap.TagExpiresAt: past})
	out, err = reap.Reap(ctx, cfg, time.Now(), 3*time.Hour, false)
	require.NoError(t, err)
	assert.Empty(t, out.Deleted)

	// Already gone is deleted, as terraform destroy treats it (CI: the SDK retried a DeleteInternetGateway whose
	// first answer was lost; the retry's NotFound failed the nightly's teardown): every type of the list, each
	// twice, deleted in one pass without failures.
	gw, err := ec2c.CreateInternetGateway(ctx, &ec2.CreateInternetGatewayInput{TagSpecifications: []ec2types.TagSpecification{{
		ResourceType: ec2types.ResourceTypeInternetGateway, Tags: []ec2types.Tag{{Key: aws.String(reap.TagRunID), Value: aws.String("run-3")}}}}})
	require.NoError(t, err)
	bucket("mlops-nightly-artifacts-twice", map[string]string{reap.TagRunID: "run-3"})
	twice, err := reap.Tagged(ctx, cfg, map[string][]string{reap.TagRunID: {"run-3"}})
	require.NoError(t, err)
	require.Len(t, twice, 2, "%v", twice)
	reap.RetryInterval = time.Hour // a second pass would outlast one
	t.Cleanup(func() { reap.RetryInterval = 30 * time.Second })
	one, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err = reap.Delete(one, cfg, append(twice, twice...))
	require.NoError(t, err, "one pass")
	assert.Empty(t, out.Failed)
	assert.Len(t, out.Deleted, 4)
	_, err = ec2c.DescribeInternetGateways(ctx, &ec2.DescribeInternetGatewaysInput{InternetGatewayIds: []string{aws.ToString(gw.InternetGateway.InternetGatewayId)}})
	require.Error(t, err, "deleted")
}

// TestLeakScanReadsWhatTheTaggingAPILeavesOut: a run's IAM role and instance profile, EventBridge rule, launch
// template, address and EKS cluster are leaks too, though moto's Tagging API does not list
// them; deleted, they are not.
func TestLeakScanReadsWhatTheTaggingAPILeavesOut(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	m := startMoto(t, ctx)
	cfg, err := m.Config(ctx)
	require.NoError(t, err)
	const run = "run-left"
	role, err := iam.NewFromConfig(cfg).CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("left-role"), AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[]}`),
		Tags: []iamtypes.Tag{{Key: aws.String(reap.TagRunID), Value: aws.String(run)}}})
	require.NoError(t, err)
	_, err = iam.NewFromConfig(cfg).CreateInstanceProfile(ctx, &iam.CreateInstanceProfileInput{InstanceProfileName: aws.String("left-profile"),
		Tags: []iamtypes.Tag{{Key: aws.String(reap.TagRunID), Value: aws.String(run)}}})
	require.NoError(t, err)
	_, err = iam.NewFromConfig(cfg).CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("other-role"), AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[]}`),
		Tags: []iamtypes.Tag{{Key: aws.String(reap.TagRunID), Value: aws.String("another-run")}}})
	require.NoError(t, err)
	_, err = eventbridge.NewFromConfig(cfg).PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("left-rule"), EventPattern: aws.String(`{"source":["aws.ec2"]}`),
		Tags: []ebtypes.Tag{{Key: aws.String(reap.TagRunID), Value: aws.String(run)}}})
	require.NoError(t, err)
	ec2c := ec2.NewFromConfig(cfg)
	spec := func(kind ec2types.ResourceType) []ec2types.TagSpecification {
		return []ec2types.TagSpecification{{ResourceType: kind, Tags: []ec2types.Tag{{Key: aws.String(reap.TagRunID), Value: aws.String(run)}}}}
	}
	_, err = ec2c.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String("left-lt"), LaunchTemplateData: &ec2types.RequestLaunchTemplateData{},
		TagSpecifications: spec(ec2types.ResourceTypeLaunchTemplate)})
	require.NoError(t, err)
	_, err = ec2c.AllocateAddress(ctx, &ec2.AllocateAddressInput{Domain: ec2types.DomainTypeVpc, TagSpecifications: spec(ec2types.ResourceTypeElasticIp)})
	require.NoError(t, err)
	vpc, err := ec2c.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.43.0.0/16")})
	require.NoError(t, err)
	sub, err := ec2c.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: vpc.Vpc.VpcId, CidrBlock: aws.String("10.43.1.0/24")})
	require.NoError(t, err)
	_, err = eks.NewFromConfig(cfg).CreateCluster(ctx, &eks.CreateClusterInput{Name: aws.String("left-cluster"), RoleArn: role.Role.Arn,
		ResourcesVpcConfig: &ekstypes.VpcConfigRequest{SubnetIds: []string{aws.ToString(sub.Subnet.SubnetId)}}, Tags: map[string]string{reap.TagRunID: run}})
	require.NoError(t, err)

	leaks, err := reap.Leaks(ctx, cfg, run)
	require.NoError(t, err)
	var types []string
	for _, r := range leaks {
		types = append(types, r.Type)
	}
	assert.ElementsMatch(t, []string{"iam:role", "iam:instance-profile", "events:rule", "ec2:launch-template", "ec2:elastic-ip", "eks:cluster"}, types,
		"every leaked resource of the run, not another run's role nor the untagged VPC: %v", leaks)
	out, err := reap.Delete(ctx, cfg, leaks)
	require.NoError(t, err)
	require.Empty(t, out.Failed)
	leaks, err = reap.Leaks(ctx, cfg, run)
	require.NoError(t, err)
	assert.Empty(t, leaks, "deleted: no longer leaks")
}
