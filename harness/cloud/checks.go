package cloud

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/shape"
)

// effects maps the EKS API's taint effects to Kubernetes'.
var effects = map[string]string{"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}

// CheckNodeGroups describes the cluster's managed node groups and compares them with the shape: instance types,
// capacity type, scaling, labels and taints. It returns one line per difference.
func CheckNodeGroups(ctx context.Context, cfg aws.Config, s *shape.Shape) ([]string, error) {
	c := eks.NewFromConfig(cfg)
	if _, err := c.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String(s.ClusterName)}); err != nil {
		return nil, fmt.Errorf("describe cluster %s: %w", s.ClusterName, err)
	}
	list, err := c.ListNodegroups(ctx, &eks.ListNodegroupsInput{ClusterName: aws.String(s.ClusterName)})
	if err != nil {
		return nil, fmt.Errorf("list node groups of %s: %w", s.ClusterName, err)
	}
	var diffs []string
	seen := map[string]bool{}
	for _, name := range list.Nodegroups {
		seen[name] = true
		g, ok := s.Group(name)
		if !ok {
			diffs = append(diffs, fmt.Sprintf("node group %s exists in AWS but not in Terraform", name))
			continue
		}
		out, err := c.DescribeNodegroup(ctx, &eks.DescribeNodegroupInput{ClusterName: aws.String(s.ClusterName), NodegroupName: aws.String(name)})
		if err != nil {
			return nil, fmt.Errorf("describe node group %s: %w", name, err)
		}
		ng := out.Nodegroup
		want := func(field, got, exp string) {
			if got != exp {
				diffs = append(diffs, fmt.Sprintf("node group %s: %s is %s, Terraform says %s", name, field, got, exp))
			}
		}
		want("instance types", strings.Join(ng.InstanceTypes, ","), strings.Join(g.InstanceTypes, ","))
		want("capacity type", string(ng.CapacityType), g.CapacityType)
		if sc := ng.ScalingConfig; sc != nil {
			want("min/max size", fmt.Sprintf("%d/%d", aws.ToInt32(sc.MinSize), aws.ToInt32(sc.MaxSize)), fmt.Sprintf("%d/%d", g.MinSize, g.MaxSize))
		}
		for k, v := range g.Labels {
			want("label "+k, ng.Labels[k], v)
		}
		var got, exp []string
		for _, t := range ng.Taints {
			got = append(got, fmt.Sprintf("%s=%s:%s", aws.ToString(t.Key), aws.ToString(t.Value), effects[string(t.Effect)]))
		}
		for _, t := range g.Taints {
			exp = append(exp, fmt.Sprintf("%s=%s:%s", t.Key, t.Value, t.Effect))
		}
		sort.Strings(got)
		sort.Strings(exp)
		want("taints", strings.Join(got, ","), strings.Join(exp, ","))
	}
	for _, g := range s.Groups {
		if !seen[g.Name] {
			diffs = append(diffs, fmt.Sprintf("node group %s is in Terraform but not in AWS", g.Name))
		}
	}
	return diffs, nil
}

// CheckBucket reads the bucket's encryption, versioning and public access block; one line per problem.
func CheckBucket(ctx context.Context, cfg aws.Config, bucket string) ([]string, error) {
	c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	var problems []string
	enc, err := c.GetBucketEncryption(ctx, &s3.GetBucketEncryptionInput{Bucket: aws.String(bucket)})
	switch {
	case err != nil && isCode(err, "ServerSideEncryptionConfigurationNotFoundError"):
		problems = append(problems, fmt.Sprintf("bucket %s: no default encryption", bucket))
	case err != nil:
		return nil, fmt.Errorf("get encryption of %s: %w", bucket, err)
	case enc.ServerSideEncryptionConfiguration == nil || len(enc.ServerSideEncryptionConfiguration.Rules) == 0:
		problems = append(problems, fmt.Sprintf("bucket %s: no default encryption", bucket))
	}
	ver, err := c.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String(bucket)})
	if err != nil {
		return nil, fmt.Errorf("get versioning of %s: %w", bucket, err)
	}
	if ver.Status != "Enabled" {
		problems = append(problems, fmt.Sprintf("bucket %s: versioning %q, want Enabled", bucket, ver.Status))
	}
	pab, err := c.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: aws.String(bucket)})
	switch {
	case err != nil && isCode(err, "NoSuchPublicAccessBlockConfiguration"):
		problems = append(problems, fmt.Sprintf("bucket %s: no public access block", bucket))
	case err != nil:
		return nil, fmt.Errorf("get public access block of %s: %w", bucket, err)
	default:
		p := pab.PublicAccessBlockConfiguration
		if !(aws.ToBool(p.BlockPublicAcls) && aws.ToBool(p.BlockPublicPolicy) && aws.ToBool(p.IgnorePublicAcls) && aws.ToBool(p.RestrictPublicBuckets)) {
			problems = append(problems, fmt.Sprintf("bucket %s: public access block is not all true", bucket))
		}
	}
	return problems, nil
}

func isCode(err error, code string) bool {
	var api interface{ ErrorCode() string }
	return errors.As(err, &api) && api.ErrorCode() == code
}
