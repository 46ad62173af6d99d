package reap

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// scanServices lists, service by service, the resources carrying every tag of filters in the services whose
// resources the Tagging API may leave out: EC2 launch templates and addresses (EC2's own tag list, each one's
// existence confirmed: moto's Tagging API leaves them out), IAM roles and instance profiles (IAM is global: a regional Tagging API call is not relied on for it), EventBridge rules and EKS clusters and
// node groups (moto's Tagging API leaves them out). ARNs are built as each service writes them.
func scanServices(ctx context.Context, cfg aws.Config, filters map[string][]string) ([]Resource, error) {
	match := func(tags map[string]string) bool {
		for k, vs := range filters {
			v, ok := tags[k]
			if !ok || (len(vs) > 0 && !slices.Contains(vs, v)) {
				return false
			}
		}
		return true
	}
	var out []Resource
	add := func(arn string, tags map[string]string) {
		r := FromARN(arn)
		r.Tags = tags
		out = append(out, r)
	}
	id, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return nil, fmt.Errorf("sts GetCallerIdentity: %w", err)
	}
	account := aws.ToString(id.Account)

	var ef []ec2types.Filter
	for k, vs := range filters {
		ef = append(ef, ec2types.Filter{Name: aws.String("key"), Values: []string{k}})
		if len(vs) > 0 {
			ef = append(ef, ec2types.Filter{Name: aws.String("value"), Values: vs})
		}
		break // DescribeTags filters one tag at a time: the rest is matched below
	}
	ec2Tags := map[string]map[string]string{}
	ec2Kind := map[string]string{}
	pages := ec2.NewDescribeTagsPaginator(ec2.NewFromConfig(cfg), &ec2.DescribeTagsInput{Filters: ef})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("ec2 DescribeTags: %w", err)
		}
		for _, t := range page.Tags {
			rid := aws.ToString(t.ResourceId)
			kind := string(t.ResourceType)
			if k, ok := motoEC2Kinds[kind]; ok {
				kind = k
			}
			ec2Kind[rid] = kind
			ec2Tags[rid] = map[string]string{}
		}
	}
	if len(ec2Tags) > 0 { // every tag of those resources, for the other filters and the caller
		ids := slices.Sorted(maps.Keys(ec2Tags))
		pages := ec2.NewDescribeTagsPaginator(ec2.NewFromConfig(cfg), &ec2.DescribeTagsInput{Filters: []ec2types.Filter{{Name: aws.String("resource-id"), Values: ids}}})
		for pages.HasMorePages() {
			page, err := pages.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("ec2 DescribeTags: %w", err)
			}
			for _, t := range page.Tags {
				if m := ec2Tags[aws.ToString(t.ResourceId)]; m != nil {
					m[aws.ToString(t.Key)] = aws.ToString(t.Value)
				}
			}
		}
		for _, rid := range ids {
			if !scanEC2Kinds[ec2Kind[rid]] {
				continue // listed by the Tagging API (moto's EC2 keeps a deleted resource's tags: not read here)
			}
			if ok, err := ec2Exists(ctx, cfg, ec2Kind[rid], rid); err != nil {
				return nil, err
			} else if !ok {
				continue
			}
			if match(ec2Tags[rid]) {
				add(fmt.Sprintf("arn:aws:ec2:%s:%s:%s/%s", cfg.Region, account, ec2Kind[rid], rid), ec2Tags[rid])
			}
		}
	}

	iamTags := func(ts []iamtypes.Tag) map[string]string {
		m := map[string]string{}
		for _, t := range ts {
			m[aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
		return m
	}
	ic := iam.NewFromConfig(cfg)
	roles := iam.NewListRolesPaginator(ic, &iam.ListRolesInput{})
	for roles.HasMorePages() {
		page, err := roles.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("iam ListRoles: %w", err)
		}
		for _, r := range page.Roles {
			got, err := ic.GetRole(ctx, &iam.GetRoleInput{RoleName: r.RoleName})
			if notFound(err) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("iam GetRole %s: %w", aws.ToString(r.RoleName), err)
			}
			if t := iamTags(got.Role.Tags); match(t) {
				add(aws.ToString(r.Arn), t)
			}
		}
	}
	profiles := iam.NewListInstanceProfilesPaginator(ic, &iam.ListInstanceProfilesInput{})
	for profiles.HasMorePages() {
		page, err := profiles.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("iam ListInstanceProfiles: %w", err)
		}
		for _, p := range page.InstanceProfiles {
			// GetInstanceProfile: moto answers ListInstanceProfileTags with a 500.
			got, err := ic.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: p.InstanceProfileName})
			if notFound(err) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("iam GetInstanceProfile %s: %w", aws.ToString(p.InstanceProfileName), err)
			}
			if t := iamTags(got.InstanceProfile.Tags); match(t) {
				add(aws.ToString(p.Arn), t)
			}
		}
	}

	eb := eventbridge.NewFromConfig(cfg)
	var next *string
	for {
		rules, err := eb.ListRules(ctx, &eventbridge.ListRulesInput{NextToken: next})
		if err != nil {
			return nil, fmt.Errorf("events ListRules: %w", err)
		}
		for _, r := range rules.Rules {
			got, err := eb.ListTagsForResource(ctx, &eventbridge.ListTagsForResourceInput{ResourceARN: r.Arn})
			if notFound(err) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("events ListTagsForResource %s: %w", aws.ToString(r.Arn), err)
			}
			t := map[string]string{}
			for _, tag := range got.Tags {
				t[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
			}
			if match(t) {
				add(aws.ToString(r.Arn), t)
			}
		}
		if next = rules.NextToken; next == nil {
			break
		}
	}

	ek := eks.NewFromConfig(cfg)
	clusters := eks.NewListClustersPaginator(ek, &eks.ListClustersInput{})
	for clusters.HasMorePages() {
		page, err := clusters.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("eks ListClusters: %w", err)
		}
		for _, name := range page.Clusters {
			c, err := ek.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String(name)})
			if notFound(err) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("eks DescribeCluster %s: %w", name, err)
			}
			if match(c.Cluster.Tags) {
				add(aws.ToString(c.Cluster.Arn), c.Cluster.Tags)
			}
			groups := eks.NewListNodegroupsPaginator(ek, &eks.ListNodegroupsInput{ClusterName: aws.String(name)})
			for groups.HasMorePages() {
				gp, err := groups.NextPage(ctx)
				if err != nil {
					return nil, fmt.Errorf("eks ListNodegroups %s: %w", name, err)
				}
				for _, g := range gp.Nodegroups {
					ng, err := ek.DescribeNodegroup(ctx, &eks.DescribeNodegroupInput{ClusterName: aws.String(name), NodegroupName: aws.String(g)})
					if notFound(err) {
						continue
					}
					if err != nil {
						return nil, fmt.Errorf("eks DescribeNodegroup %s/%s: %w", name, g, err)
					}
					if match(ng.Nodegroup.Tags) {
						add(aws.ToString(ng.Nodegroup.NodegroupArn), ng.Nodegroup.Tags)
					}
				}
			}
		}
	}
	return out, nil
}

// scanEC2Kinds are the EC2 resource types moto's Tagging API leaves out.
var scanEC2Kinds = map[string]bool{"launch-template": true, "elastic-ip": true}

// ec2Exists reports whether an EC2 resource of a scanEC2Kinds type exists.
func ec2Exists(ctx context.Context, cfg aws.Config, kind, id string) (bool, error) {
	c := ec2.NewFromConfig(cfg)
	var n int
	var err error
	switch kind {
	case "launch-template":
		var out *ec2.DescribeLaunchTemplatesOutput
		if out, err = c.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{LaunchTemplateIds: []string{id}}); err == nil {
			n = len(out.LaunchTemplates)
		}
	case "elastic-ip":
		var out *ec2.DescribeAddressesOutput
		if out, err = c.DescribeAddresses(ctx, &ec2.DescribeAddressesInput{AllocationIds: []string{id}}); err == nil {
			n = len(out.Addresses)
		}
	}
	if notFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("ec2 %s %s: %w", kind, id, err)
	}
	return n > 0, nil
}

// motoEC2Kinds are moto's DescribeTags resource types that EC2 names otherwise (in ARNs and in its own answers).
var motoEC2Kinds = map[string]string{"vpc-elastic-ip": "elastic-ip", "nat-gateway": "natgateway"}
