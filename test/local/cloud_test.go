package local

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cloud"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cloud/endpoint"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cloud/moto"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cloud/real"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/shape"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/test/testenv"
)

var awsEffects = map[string]ekstypes.TaintEffect{"NoSchedule": ekstypes.TaintEffectNoSchedule, "NoExecute": ekstypes.TaintEffectNoExecute, "PreferNoSchedule": ekstypes.TaintEffectPreferNoSchedule}

// createLikeTerraform creates, through the SDK, the EKS cluster, node groups and bucket Terraform declares.
func createLikeTerraform(t *testing.T, ctx context.Context, cfg aws.Config, s *shape.Shape, bucket string) {
	t.Helper()
	e := eks.NewFromConfig(cfg)
	_, err := e.CreateCluster(ctx, &eks.CreateClusterInput{Name: aws.String(s.ClusterName), Version: aws.String(s.KubernetesVersion),
		RoleArn:            aws.String("arn:aws:iam::123456789012:role/cluster"),
		ResourcesVpcConfig: &ekstypes.VpcConfigRequest{SubnetIds: []string{"subnet-a", "subnet-b"}}})
	require.NoError(t, err)
	for _, g := range s.Groups {
		var taints []ekstypes.Taint
		for _, tt := range g.Taints {
			taints = append(taints, ekstypes.Taint{Key: aws.String(tt.Key), Value: aws.String(tt.Value), Effect: awsEffects[string(tt.Effect)]})
		}
		_, err := e.CreateNodegroup(ctx, &eks.CreateNodegroupInput{ClusterName: aws.String(s.ClusterName), NodegroupName: aws.String(g.Name),
			NodeRole: aws.String("arn:aws:iam::123456789012:role/node"), Subnets: []string{"subnet-a"},
			InstanceTypes: g.InstanceTypes, CapacityType: ekstypes.CapacityTypes(g.CapacityType), Labels: g.Labels, Taints: taints,
			ScalingConfig: &ekstypes.NodegroupScalingConfig{MinSize: aws.Int32(int32(g.MinSize)), MaxSize: aws.Int32(int32(g.MaxSize)), DesiredSize: aws.Int32(int32(g.DesiredSize))}})
		require.NoError(t, err)
	}
	c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	_, err = c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)})
	require.NoError(t, err)
	_, err = c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(bucket),
		VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled}})
	require.NoError(t, err)
	_, err = c.PutBucketEncryption(ctx, &s3.PutBucketEncryptionInput{Bucket: aws.String(bucket),
		ServerSideEncryptionConfiguration: &s3types.ServerSideEncryptionConfiguration{Rules: []s3types.ServerSideEncryptionRule{{
			ApplyServerSideEncryptionByDefault: &s3types.ServerSideEncryptionByDefault{SSEAlgorithm: s3types.ServerSideEncryptionAwsKms}}}}})
	require.NoError(t, err)
}

// startMoto starts moto from the project's .venv (installed on first use) and stops it when the test ends.
func startMoto(t *testing.T, ctx context.Context) *moto.Moto {
	t.Helper()
	m := newMoto(t)
	require.NoError(t, m.Start(ctx))
	t.Cleanup(func() { require.NoError(t, m.Stop(context.Background())) })
	return m
}

// TestAWSChecksAgainstMoto starts moto, creates what Terraform declares through the SDK, and runs the AWS-side
// checks: they pass, and a drifted node group or an open bucket is named.
func TestAWSChecksAgainstMoto(t *testing.T) {
	t.Parallel()
	require.NoError(t, cloud.RefuseRealCredentials())
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	m := startMoto(t, ctx)
	cfg, err := m.Config(ctx)
	require.NoError(t, err)

	s := testenv.MustShape(t, "local")
	createLikeTerraform(t, ctx, cfg, s, "mlops-local-artifacts")
	diffs, err := cloud.CheckNodeGroups(ctx, cfg, s)
	require.NoError(t, err)
	assert.Empty(t, diffs)
	problems, err := cloud.CheckBucket(ctx, cfg, "mlops-local-artifacts")
	require.NoError(t, err)
	assert.Equal(t, []string{"bucket mlops-local-artifacts: no public access block"}, problems, "the test left the block out on purpose")

	c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	_, err = c.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{Bucket: aws.String("mlops-local-artifacts"),
		PublicAccessBlockConfiguration: &s3types.PublicAccessBlockConfiguration{BlockPublicAcls: aws.Bool(true),
			BlockPublicPolicy: aws.Bool(true), IgnorePublicAcls: aws.Bool(true), RestrictPublicBuckets: aws.Bool(true)}})
	require.NoError(t, err)
	problems, err = cloud.CheckBucket(ctx, cfg, "mlops-local-artifacts")
	require.NoError(t, err)
	assert.Empty(t, problems)

	// The endpoint backend reaches the same emulator as a URL someone else runs.
	ep, err := endpoint.New(endpoint.Config{URL: m.Endpoint()})
	require.NoError(t, err)
	require.NoError(t, ep.Start(ctx))
	epCfg, err := ep.Config(ctx)
	require.NoError(t, err)
	problems, err = cloud.CheckBucket(ctx, epCfg, "mlops-local-artifacts")
	require.NoError(t, err)
	assert.Empty(t, problems)
	_, err = endpoint.New(endpoint.Config{})
	assert.Error(t, err)

	// Terraform changes the GPU taint; AWS still has the old one: the check names the drift.
	drifted := s.Clone()
	g, _ := drifted.Group("gpu")
	g.Taints[0].Value = "present"
	diffs, err = cloud.CheckNodeGroups(ctx, cfg, drifted)
	require.NoError(t, err)
	assert.Equal(t, "node group gpu: taints is nvidia.com/gpu=true:NoSchedule, Terraform says nvidia.com/gpu=present:NoSchedule", strings.Join(diffs, "\n"))
}

// TestRealBackendRefusesOtherAccounts aims the real-AWS backend's default credential chain at moto (through
// AWS_ENDPOINT_URL, which the SDK honours): moto's account 123456789012 is accepted only when named.
func TestRealBackendRefusesOtherAccounts(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	m := startMoto(t, ctx)
	t.Setenv("AWS_ENDPOINT_URL", m.Endpoint())
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")

	_, err := real.New(real.Config{})
	require.ErrorContains(t, err, "the account to use is required")
	_, err = real.New(real.Config{Account: "1234"})
	require.ErrorContains(t, err, `account "1234" is not a 12-digit AWS account ID`)

	other, err := real.New(real.Config{Account: "210987654321"})
	require.NoError(t, err)
	err = other.Start(ctx)
	require.ErrorContains(t, err, "credentials belong to account 123456789012")
	require.ErrorContains(t, err, "allowed only in 210987654321: refusing")
	_, err = other.Config(ctx)
	require.Error(t, err, "a refused backend hands out no configuration")

	mine, err := real.New(real.Config{Account: "123456789012"})
	require.NoError(t, err)
	require.NoError(t, mine.Start(ctx))
	assert.Contains(t, mine.Caller(), "123456789012")
	cfg, err := mine.Config(ctx)
	require.NoError(t, err)
	_, err = cloud.CheckNodeGroups(ctx, cfg, testenv.MustShape(t, "local"))
	require.ErrorContains(t, err, "mlops-local", "the checks run through the same configuration (no cluster in this moto)")
	require.NoError(t, mine.Stop(ctx))
}
