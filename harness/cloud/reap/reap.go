// Package reap finds and removes what test runs leave in an AWS account, by tag, through the Resource Groups
// Tagging API and the services it leaves out: the leak scan after a nightly's destroy (anything still carrying the run's `run-id` tag fails the
// run), and `harness reap --older-than D`, which deletes resources whose `expires-at` tag (terraform/main.tf sets
// it when a run passes expires_at) is more than D in the past. Both run against moto in the tests.
package reap

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	tagging "github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi"
	taggingtypes "github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"
)

// Tags the runs set (terraform/main.tf's local.tags).
const (
	TagExpiresAt = "expires-at"
	TagRunID     = "run-id"
)

// Resource is one tagged resource.
type Resource struct {
	ARN string
	// Type is service:resource-type, as in the ARN ("s3:bucket", "ec2:vpc", "eks:cluster").
	Type string
	// ID is the resource's name or id (the ARN's last part).
	ID   string
	Tags map[string]string
}

func (r Resource) String() string { return r.ARN }

// Tagged lists the resources that carry every tag of filters (a key with no values: any value): the Tagging API's
// list, and what it leaves out read from each service (scanServices).
func Tagged(ctx context.Context, cfg aws.Config, filters map[string][]string) ([]Resource, error) {
	var tf []taggingtypes.TagFilter
	for k, v := range filters {
		tf = append(tf, taggingtypes.TagFilter{Key: aws.String(k), Values: v})
	}
	p := tagging.NewGetResourcesPaginator(tagging.NewFromConfig(cfg), &tagging.GetResourcesInput{TagFilters: tf})
	var out []Resource
	seen := map[string]bool{}
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("tagging GetResources: %w", err)
		}
		for _, m := range page.ResourceTagMappingList {
			r := Resource{ARN: aws.ToString(m.ResourceARN), Tags: map[string]string{}}
			for _, t := range m.Tags {
				r.Tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
			}
			r.Type, r.ID = kindOf(r.ARN)
			seen[r.Type+" "+r.ID] = true
			out = append(out, r)
		}
	}
	more, err := scanServices(ctx, cfg, filters)
	if err != nil {
		return nil, err
	}
	for _, r := range more {
		if !seen[r.Type+" "+r.ID] {
			seen[r.Type+" "+r.ID] = true
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ARN < out[j].ARN })
	return out, nil
}

// FromARN is the resource an ARN names (no tags).
func FromARN(s string) Resource {
	r := Resource{ARN: s}
	r.Type, r.ID = kindOf(s)
	return r
}

// kindOf splits an ARN into service:type and id: arn:aws:s3:::bucket → s3:bucket, bucket;
// arn:aws:ec2:r:a:vpc/vpc-1 → ec2:vpc, vpc-1; arn:aws:eks:r:a:cluster/name → eks:cluster, name.
func kindOf(s string) (string, string) {
	a, err := arn.Parse(s)
	if err != nil {
		return "unknown", s
	}
	if a.Service == "s3" && !strings.Contains(a.Resource, "/") {
		return "s3:bucket", a.Resource
	}
	if a.Service == "sqs" { // arn:aws:sqs:r:a:queue-name
		return "sqs:queue", a.Resource
	}
	// The resource part is type/id or type:id (arn:aws:logs:r:a:log-group:/aws/eks/x/cluster): the first
	// separator ends the type.
	i := strings.IndexAny(a.Resource, "/:")
	if i < 0 {
		return a.Service + ":" + a.Resource, ""
	}
	return a.Service + ":" + a.Resource[:i], a.Resource[i+1:]
}

// Leaks are the resources still tagged with the run's id (after its destroy: each one is a leak), judged by
// each resource's own state: the Tagging API keeps listing some resources for a while after they are gone or
// going (terminated instances, deleted NAT gateways and volumes, log groups), and a KMS key is never deleted at
// once (it waits in PendingDeletion for its window, 7-30 days). Those are not leaks.
func Leaks(ctx context.Context, cfg aws.Config, runID string) ([]Resource, error) {
	if runID == "" {
		return nil, errors.New("leak scan: empty run id")
	}
	rs, err := Tagged(ctx, cfg, map[string][]string{TagRunID: {runID}})
	if err != nil {
		return nil, err
	}
	return Live(ctx, cfg, rs)
}

// Live keeps the resources of rs that still exist and cost money or hold data, asking each one's service for its
// state (DescribeInstances, DescribeNatGateways, DescribeVolumes, KMS DescribeKey, CloudWatch Logs
// DescribeLogGroups). A type no state is read for is live while it is listed.
func Live(ctx context.Context, cfg aws.Config, rs []Resource) ([]Resource, error) {
	st := states{ec2: ec2.NewFromConfig(cfg), kms: kms.NewFromConfig(cfg), logs: cloudwatchlogs.NewFromConfig(cfg)}
	var out []Resource
	for _, r := range rs {
		gone, err := st.gone(ctx, r)
		if err != nil {
			return nil, fmt.Errorf("state of %s: %w", r.ARN, err)
		}
		if !gone {
			out = append(out, r)
		}
	}
	return out, nil
}

type states struct {
	ec2  *ec2.Client
	kms  *kms.Client
	logs *cloudwatchlogs.Client
}

// notFound is an error saying the resource does not exist (any service's NotFound code).
func notFound(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && (strings.Contains(ae.ErrorCode(), "NotFound") || ae.ErrorCode() == "ResourceNotFoundException")
}

// alreadyGone is an error saying the resource being deleted does not exist: any service's NotFound code, S3's
// NoSuchBucket, IAM's NoSuchEntity, SQS's NonExistentQueue. (What the leak scan lists afterwards is the check that
// nothing with the run's tag is left.)
func alreadyGone(err error) bool {
	var st step
	if errors.As(err, &st) {
		return false
	}
	if notFound(err) {
		return true
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode() {
	case "NoSuchBucket", "NoSuchEntity", "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist":
		return true
	}
	return false
}

// gone reports whether a listed resource no longer exists or is on its way out by itself.
func (s states) gone(ctx context.Context, r Resource) (bool, error) {
	switch r.Type {
	case "ec2:instance":
		out, err := s.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{r.ID}})
		if notFound(err) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		for _, res := range out.Reservations {
			for _, i := range res.Instances {
				if i.State != nil && i.State.Name != ec2types.InstanceStateNameTerminated && i.State.Name != ec2types.InstanceStateNameShuttingDown {
					return false, nil
				}
			}
		}
		return true, nil
	case "ec2:natgateway":
		out, err := s.ec2.DescribeNatGateways(ctx, &ec2.DescribeNatGatewaysInput{NatGatewayIds: []string{r.ID}})
		if notFound(err) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		for _, n := range out.NatGateways {
			if n.State != ec2types.NatGatewayStateDeleted && n.State != ec2types.NatGatewayStateDeleting {
				return false, nil
			}
		}
		return true, nil
	case "ec2:volume":
		// A node's root volume is deleted with its instance (DeleteOnTermination); the Tagging API lists it a
		// while longer.
		out, err := s.ec2.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{r.ID}})
		if notFound(err) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		for _, v := range out.Volumes {
			if v.State != ec2types.VolumeStateDeleted && v.State != ec2types.VolumeStateDeleting {
				return false, nil
			}
		}
		return true, nil
	case "kms:key":
		// Terraform's destroy schedules the key's deletion (deletion_window_in_days); the key is listed, and
		// tagged, until the window ends. Pending deletion costs nothing and cannot be used.
		out, err := s.kms.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(r.ARN)})
		if notFound(err) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		switch out.KeyMetadata.KeyState {
		case kmstypes.KeyStatePendingDeletion, kmstypes.KeyStatePendingReplicaDeletion:
			return true, nil
		}
		return false, nil
	case "logs:log-group":
		name := strings.TrimSuffix(r.ID, ":*")
		out, err := s.logs.DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String(name)})
		if notFound(err) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		for _, g := range out.LogGroups {
			if aws.ToString(g.LogGroupName) == name {
				return false, nil
			}
		}
		return true, nil
	}
	return false, nil
}

// RetryInterval is the pause between deletion passes: deletes that AWS completes asynchronously (node groups,
// instances, NAT gateways) leave their dependents undeletable until they are done.
var RetryInterval = 30 * time.Second

// maxPasses bounds the passes; a pass that deletes nothing ends them.
const maxPasses = 20

// Outcome is what Reap did.
type Outcome struct {
	// Deleted, Failed (with the reason) and Kept (not expired yet, or an unreadable expires-at), by ARN.
	Deleted, Failed, Kept []string
}

// Reap deletes the resources whose expires-at is more than olderThan before now; dryRun only reports. Resources
// are deleted in dependency order (what lives in a VPC before the VPC, node groups before their cluster); a type
// without a deleter is reported in Failed, to be removed by hand.
func Reap(ctx context.Context, cfg aws.Config, now time.Time, olderThan time.Duration, dryRun bool) (Outcome, error) {
	rs, err := Tagged(ctx, cfg, map[string][]string{TagExpiresAt: nil})
	if err != nil {
		return Outcome{}, err
	}
	var out Outcome
	var expired []Resource
	for _, r := range rs {
		at, err := time.Parse(time.RFC3339, r.Tags[TagExpiresAt])
		switch {
		case err != nil:
			out.Kept = append(out.Kept, fmt.Sprintf("%s (expires-at %q is not RFC 3339)", r.ARN, r.Tags[TagExpiresAt]))
		case at.Add(olderThan).After(now):
			out.Kept = append(out.Kept, fmt.Sprintf("%s (expires %s)", r.ARN, at.Format(time.RFC3339)))
		default:
			expired = append(expired, r)
		}
	}
	if dryRun {
		sort.SliceStable(expired, func(i, j int) bool { return order(expired[i].Type) < order(expired[j].Type) })
		for _, r := range expired {
			out.Deleted = append(out.Deleted, r.ARN+" (dry run)")
		}
		return out, nil
	}
	del, err := Delete(ctx, cfg, expired)
	del.Kept = out.Kept
	return del, err
}

// Delete deletes rs in dependency order (what lives in a VPC before the VPC, node groups before their cluster, a
// bucket with its objects and versions), in passes until everything is gone or a pass deletes nothing. What
// could not be deleted is in Failed with the last error.
func Delete(ctx context.Context, cfg aws.Config, rs []Resource) (Outcome, error) {
	var out Outcome
	expired := append([]Resource(nil), rs...)
	sort.SliceStable(expired, func(i, j int) bool { return order(expired[i].Type) < order(expired[j].Type) })
	d := deleters{ec2: ec2.NewFromConfig(cfg), eks: eks.NewFromConfig(cfg), s3: s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }),
		kms: kms.NewFromConfig(cfg), logs: cloudwatchlogs.NewFromConfig(cfg), sqs: sqs.NewFromConfig(cfg), events: eventbridge.NewFromConfig(cfg), iam: iam.NewFromConfig(cfg)}
	// Passes in dependency order until everything is gone or a pass deletes nothing: what depends on a resource
	// still being deleted fails in one pass and goes in a later one.
	remaining, last := expired, map[string]error{}
	for pass := 1; len(remaining) > 0 && pass <= maxPasses; pass++ {
		var next []Resource
		progress := false
		for _, r := range remaining {
			err := d.delete(ctx, r)
			var perm permanent
			switch {
			case err == nil || alreadyGone(err):
				// Already gone counts as deleted, as terraform destroy treats it: another deleter got there first,
				// or the SDK retried a delete whose first answer was lost and the retry was told NotFound.
				out.Deleted = append(out.Deleted, r.ARN)
				progress = true
			case errors.As(err, &perm):
				out.Failed = append(out.Failed, fmt.Sprintf("%s: %v", r.ARN, err))
			default:
				last[r.ARN] = err
				next = append(next, r)
			}
		}
		remaining = next
		if !progress || len(remaining) == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return out, ctx.Err()
		case <-time.After(RetryInterval):
		}
	}
	for _, r := range remaining {
		out.Failed = append(out.Failed, fmt.Sprintf("%s: %v", r.ARN, last[r.ARN]))
	}
	return out, nil
}

// step is the error of a step before a resource's own deletion (detaching, emptying): its NotFound names something
// else than the resource, so it never means the resource is gone.
type step struct{ error }

func (s step) Unwrap() error { return s.error }

// permanent is a deletion that no retry will make succeed.
type permanent struct{ error }

// order puts dependents first.
func order(typ string) int {
	switch typ {
	case "eks:nodegroup":
		return 0
	case "eks:cluster":
		return 1
	case "ec2:instance", "ec2:natgateway":
		return 2
	case "ec2:volume": // after the instances that had them attached
		return 3
	case "ec2:elastic-ip", "ec2:internet-gateway":
		return 3
	case "ec2:subnet", "ec2:security-group", "ec2:route-table":
		return 4
	case "iam:instance-profile":
		return 5
	case "ec2:vpc", "iam:role":
		return 6
	}
	return 7
}

type deleters struct {
	ec2    *ec2.Client
	eks    *eks.Client
	s3     *s3.Client
	kms    *kms.Client
	logs   *cloudwatchlogs.Client
	sqs    *sqs.Client
	events *eventbridge.Client
	iam    *iam.Client
}

func (d deleters) delete(ctx context.Context, r Resource) error {
	switch r.Type {
	case "s3:bucket":
		return d.emptyAndDeleteBucket(ctx, r.ID)
	case "ec2:vpc":
		_, err := d.ec2.DeleteVpc(ctx, &ec2.DeleteVpcInput{VpcId: aws.String(r.ID)})
		return err
	case "ec2:subnet":
		_, err := d.ec2.DeleteSubnet(ctx, &ec2.DeleteSubnetInput{SubnetId: aws.String(r.ID)})
		return err
	case "ec2:security-group":
		_, err := d.ec2.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(r.ID)})
		return err
	case "ec2:internet-gateway":
		igw, err := d.ec2.DescribeInternetGateways(ctx, &ec2.DescribeInternetGatewaysInput{InternetGatewayIds: []string{r.ID}})
		if err != nil {
			return err
		}
		for _, g := range igw.InternetGateways {
			for _, a := range g.Attachments {
				if _, err := d.ec2.DetachInternetGateway(ctx, &ec2.DetachInternetGatewayInput{InternetGatewayId: aws.String(r.ID), VpcId: a.VpcId}); err != nil && !alreadyGone(err) {
					return step{err} // already detached goes on; anything else is not the gateway's own answer
				}
			}
		}
		_, err = d.ec2.DeleteInternetGateway(ctx, &ec2.DeleteInternetGatewayInput{InternetGatewayId: aws.String(r.ID)})
		return err
	case "ec2:natgateway":
		_, err := d.ec2.DeleteNatGateway(ctx, &ec2.DeleteNatGatewayInput{NatGatewayId: aws.String(r.ID)})
		return err
	case "ec2:route-table":
		_, err := d.ec2.DeleteRouteTable(ctx, &ec2.DeleteRouteTableInput{RouteTableId: aws.String(r.ID)})
		return err
	case "ec2:elastic-ip":
		_, err := d.ec2.ReleaseAddress(ctx, &ec2.ReleaseAddressInput{AllocationId: aws.String(r.ID)})
		return err
	case "ec2:instance":
		_, err := d.ec2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{r.ID}})
		return err
	case "eks:nodegroup": // cluster/nodegroup/uuid
		parts := strings.Split(r.ID, "/")
		if len(parts) < 2 {
			return fmt.Errorf("node group id %q", r.ID)
		}
		_, err := d.eks.DeleteNodegroup(ctx, &eks.DeleteNodegroupInput{ClusterName: aws.String(parts[0]), NodegroupName: aws.String(parts[1])})
		return err
	case "eks:cluster":
		_, err := d.eks.DeleteCluster(ctx, &eks.DeleteClusterInput{Name: aws.String(r.ID)})
		return err
	case "ec2:launch-template":
		_, err := d.ec2.DeleteLaunchTemplate(ctx, &ec2.DeleteLaunchTemplateInput{LaunchTemplateId: aws.String(r.ID)})
		return err
	case "iam:instance-profile": // its roles removed first: a profile holding a role cannot be deleted
		p, err := d.iam.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String(r.ID)})
		if err != nil {
			return err
		}
		for _, role := range p.InstanceProfile.Roles {
			if _, err := d.iam.RemoveRoleFromInstanceProfile(ctx, &iam.RemoveRoleFromInstanceProfileInput{InstanceProfileName: aws.String(r.ID), RoleName: role.RoleName}); err != nil && !alreadyGone(err) {
				return step{err}
			}
		}
		_, err = d.iam.DeleteInstanceProfile(ctx, &iam.DeleteInstanceProfileInput{InstanceProfileName: aws.String(r.ID)})
		return err
	case "iam:role": // detached from its managed policies, its inline policies deleted, then deleted
		attached, err := d.iam.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: aws.String(r.ID)})
		if err != nil {
			return err
		}
		for _, p := range attached.AttachedPolicies {
			if _, err := d.iam.DetachRolePolicy(ctx, &iam.DetachRolePolicyInput{RoleName: aws.String(r.ID), PolicyArn: p.PolicyArn}); err != nil && !alreadyGone(err) {
				return step{err}
			}
		}
		inline, err := d.iam.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: aws.String(r.ID)})
		if err != nil {
			return err
		}
		for _, n := range inline.PolicyNames {
			if _, err := d.iam.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: aws.String(r.ID), PolicyName: aws.String(n)}); err != nil && !alreadyGone(err) {
				return step{err}
			}
		}
		_, err = d.iam.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: aws.String(r.ID)})
		return err
	case "ec2:volume":
		_, err := d.ec2.DeleteVolume(ctx, &ec2.DeleteVolumeInput{VolumeId: aws.String(r.ID)})
		return err
	case "kms:key": // the shortest window KMS allows; the leak scan counts PendingDeletion as gone
		_, err := d.kms.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(r.ID), PendingWindowInDays: aws.Int32(7)})
		return err
	case "logs:log-group":
		_, err := d.logs.DeleteLogGroup(ctx, &cloudwatchlogs.DeleteLogGroupInput{LogGroupName: aws.String(strings.TrimSuffix(r.ID, ":*"))})
		return err
	case "sqs:queue":
		u, err := d.sqs.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(r.ID)})
		if err != nil {
			return err
		}
		_, err = d.sqs.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: u.QueueUrl})
		return err
	case "events:rule": // its targets first: a rule with targets cannot be deleted
		ts, err := d.events.ListTargetsByRule(ctx, &eventbridge.ListTargetsByRuleInput{Rule: aws.String(r.ID)})
		if err != nil {
			return err
		}
		if len(ts.Targets) > 0 {
			var ids []string
			for _, t := range ts.Targets {
				ids = append(ids, aws.ToString(t.Id))
			}
			if _, err := d.events.RemoveTargets(ctx, &eventbridge.RemoveTargetsInput{Rule: aws.String(r.ID), Ids: ids}); err != nil {
				return step{err}
			}
		}
		_, err = d.events.DeleteRule(ctx, &eventbridge.DeleteRuleInput{Name: aws.String(r.ID)})
		return err
	}
	return permanent{fmt.Errorf("no deleter for %s: delete it by hand", r.Type)}
}

func (d deleters) emptyAndDeleteBucket(ctx context.Context, bucket string) error {
	p := s3.NewListObjectVersionsPaginator(d.s3, &s3.ListObjectVersionsInput{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return err
		}
		var ids []s3types.ObjectIdentifier
		for _, v := range page.Versions {
			ids = append(ids, s3types.ObjectIdentifier{Key: v.Key, VersionId: v.VersionId})
		}
		for _, m := range page.DeleteMarkers {
			ids = append(ids, s3types.ObjectIdentifier{Key: m.Key, VersionId: m.VersionId})
		}
		if len(ids) > 0 {
			if _, err := d.s3.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(bucket), Delete: &s3types.Delete{Objects: ids}}); err != nil {
				return step{err}
			}
		}
	}
	_, err := d.s3.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(bucket)})
	return err
}
