package emulate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cloud/reap"
)

// A create whose answer was lost. An emulator under load drops connections (moto: seen in CI), and so does a
// network; the SDK then sends the request again. Where the first attempt had been carried out, a create that is not
// idempotent either makes a second resource (CreateVpc, AllocateAddress, CreateKey: the first one, tagged like the
// second, is left behind for the leak scan) or is refused (InvalidSubnet.Conflict, InvalidGroup.Duplicate,
// EntityAlreadyExists, ResourceInUseException, a profile's role already added). Terraform's AWS provider meets the
// same and fails the apply. The emulated apply is the stand-in for `terraform apply` in a test run, so it repairs what
// the lost answer did, and says so: after a create during which a request was sent more than once,
//   - succeeded: what carries the run's tag, is of a type that create made, and is held by no resource of the apply is
//     the lost attempt's, and is deleted;
//   - refused: what that create made and whatever carries the run's tag that the apply does not hold are deleted, and
//     the create is made again (at most twice more).
// A create during which every request was sent once is never touched: a conflict there is the configuration's.

// sends counts, on one aws.Config, the operations called and the requests sent (the SDK's retries included).
type sends struct {
	mu             sync.Mutex
	calls, attempt int
}

// instrument returns cfg with its operations and requests counted by s.
func (s *sends) instrument(cfg aws.Config) aws.Config {
	cfg = cfg.Copy()
	next := cfg.HTTPClient
	if next == nil {
		next = awshttp.NewBuildableClient()
	}
	cfg.HTTPClient = countingClient{s: s, next: next}
	cfg.APIOptions = append(slices.Clone(cfg.APIOptions), func(st *middleware.Stack) error {
		return st.Initialize.Add(middleware.InitializeMiddlewareFunc("emulate.countCalls", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			s.mu.Lock()
			s.calls++
			s.mu.Unlock()
			return next.HandleInitialize(ctx, in)
		}), middleware.Before)
	})
	return cfg
}

// mark is the count so far; resentSince reports whether a request was sent again since mark.
type mark struct{ calls, attempts int }

func (s *sends) mark() mark {
	s.mu.Lock()
	defer s.mu.Unlock()
	return mark{s.calls, s.attempt}
}

func (s *sends) resentSince(m mark) bool {
	now := s.mark()
	return now.attempts-m.attempts > now.calls-m.calls
}

type countingClient struct {
	s    *sends
	next aws.HTTPClient
}

func (c countingClient) Do(r *http.Request) (*http.Response, error) {
	c.s.mu.Lock()
	c.s.attempt++
	c.s.mu.Unlock()
	return c.next.Do(r)
}

// createOnce runs one instance's create, repairing what a lost answer did (above). nrec is how many resources were
// recorded before it.
func (a *applier) createOnce(ctx context.Context, res *Result, m mapping, i Instance, progress io.Writer) error {
	for try := 0; ; try++ {
		before, nrec := a.sends.mark(), len(res.Resources())
		err := m.create(a, ctx, i)
		if !a.sends.resentSince(before) {
			return err
		}
		made := res.Resources()[nrec:]
		if err == nil {
			types := map[string]bool{}
			for _, r := range made {
				types[r.Type] = true
			}
			strays, serr := a.strays(ctx, res, types)
			if serr != nil {
				return fmt.Errorf("a request's answer was lost and the SDK sent it again; looking for what the lost attempt created: %w", serr)
			}
			if len(strays) == 0 {
				return nil
			}
			if derr := a.remove(ctx, strays); derr != nil {
				return fmt.Errorf("a request's answer was lost and the SDK sent it again: the second %v made could not be deleted: %w", strays, derr)
			}
			say(progress, "emulated apply: %s: a request's answer was lost and the SDK sent it again; deleted what the lost attempt created: %v", i.Address, strays)
			return nil
		}
		if try == 2 {
			return fmt.Errorf("%w (answers lost %d times: the emulator drops connections)", err, try+1)
		}
		strays, serr := a.strays(ctx, res, nil)
		if serr != nil {
			return errors.Join(err, fmt.Errorf("a request's answer was lost and the SDK sent it again; looking for what the lost attempt created: %w", serr))
		}
		undo := append(slices.Clone(made), strays...)
		if derr := a.remove(ctx, undo); derr != nil {
			return errors.Join(err, fmt.Errorf("a request's answer was lost and the SDK sent it again; undoing %v: %w", undo, derr))
		}
		res.forget(nrec)
		say(progress, "emulated apply: %s: a request's answer was lost and the SDK's retry was refused (%v); deleted %v and creating it again", i.Address, err, undo)
	}
}

// strays are the resources carrying the run's tag that no resource of the apply holds (of types, when given).
func (a *applier) strays(ctx context.Context, res *Result, types map[string]bool) ([]reap.Resource, error) {
	tagged, err := a.tagged(ctx)
	if err != nil {
		return nil, err
	}
	held := map[string]bool{}
	for _, r := range res.Resources() {
		held[r.Type+" "+r.ID] = true
	}
	var out []reap.Resource
	for _, r := range tagged {
		if !held[r.Type+" "+r.ID] && (types == nil || types[r.Type]) {
			out = append(out, r)
		}
	}
	return out, nil
}

// tagged are the live resources, of every type the apply creates, carrying the run's tag: the Tagging API's list
// (moto's leaves out IAM, EventBridge, EKS, launch templates and addresses), EC2's own tag list, and each of those
// services' resources read one by one.
func (a *applier) tagged(ctx context.Context) ([]reap.Resource, error) {
	run := a.tags[reap.TagRunID]
	seen := map[string]bool{}
	var out []reap.Resource
	add := func(arn string) {
		r := reap.FromARN(arn)
		if !seen[r.Type+" "+r.ID] {
			seen[r.Type+" "+r.ID] = true
			out = append(out, r)
		}
	}
	listed, err := reap.Tagged(ctx, a.cfg, map[string][]string{reap.TagRunID: {run}})
	if err != nil {
		return nil, err
	}
	for _, r := range listed {
		add(r.ARN)
	}
	ec2Tags := ec2.NewDescribeTagsPaginator(a.ec2, &ec2.DescribeTagsInput{Filters: []ec2types.Filter{
		{Name: aws.String("key"), Values: []string{reap.TagRunID}}, {Name: aws.String("value"), Values: []string{run}}}})
	for ec2Tags.HasMorePages() {
		page, err := ec2Tags.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("ec2 DescribeTags: %w", err)
		}
		for _, t := range page.Tags {
			kind := string(t.ResourceType)
			if k, ok := motoEC2Kinds[kind]; ok {
				kind = k
			}
			add(a.ec2ARN(kind, aws.ToString(t.ResourceId)))
		}
	}
	ic := iam.NewFromConfig(a.cfg)
	roles := iam.NewListRolesPaginator(ic, &iam.ListRolesInput{})
	for roles.HasMorePages() {
		page, err := roles.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("iam ListRoles: %w", err)
		}
		for _, r := range page.Roles {
			got, err := ic.GetRole(ctx, &iam.GetRoleInput{RoleName: r.RoleName})
			if err != nil {
				return nil, fmt.Errorf("iam GetRole %s: %w", aws.ToString(r.RoleName), err)
			}
			if slices.ContainsFunc(got.Role.Tags, func(t iamtypes.Tag) bool { return aws.ToString(t.Key) == reap.TagRunID && aws.ToString(t.Value) == run }) {
				add(aws.ToString(r.Arn))
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
			if err != nil {
				return nil, fmt.Errorf("iam GetInstanceProfile %s: %w", aws.ToString(p.InstanceProfileName), err)
			}
			if slices.ContainsFunc(got.InstanceProfile.Tags, func(t iamtypes.Tag) bool { return aws.ToString(t.Key) == reap.TagRunID && aws.ToString(t.Value) == run }) {
				add(aws.ToString(p.Arn))
			}
		}
	}
	eb := eventbridge.NewFromConfig(a.cfg)
	rules, err := eb.ListRules(ctx, &eventbridge.ListRulesInput{})
	if err != nil {
		return nil, fmt.Errorf("events ListRules: %w", err)
	}
	for _, r := range rules.Rules {
		tags, err := eb.ListTagsForResource(ctx, &eventbridge.ListTagsForResourceInput{ResourceARN: r.Arn})
		if err != nil {
			return nil, fmt.Errorf("events ListTagsForResource %s: %w", aws.ToString(r.Arn), err)
		}
		if slices.ContainsFunc(tags.Tags, func(t ebtypes.Tag) bool { return aws.ToString(t.Key) == reap.TagRunID && aws.ToString(t.Value) == run }) {
			add(aws.ToString(r.Arn))
		}
	}
	ek := eks.NewFromConfig(a.cfg)
	clusters, err := ek.ListClusters(ctx, &eks.ListClustersInput{})
	if err != nil {
		return nil, fmt.Errorf("eks ListClusters: %w", err)
	}
	for _, name := range clusters.Clusters {
		c, err := ek.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String(name)})
		if err != nil {
			return nil, fmt.Errorf("eks DescribeCluster %s: %w", name, err)
		}
		if c.Cluster.Tags[reap.TagRunID] == run {
			add(aws.ToString(c.Cluster.Arn))
		}
		groups, err := ek.ListNodegroups(ctx, &eks.ListNodegroupsInput{ClusterName: aws.String(name)})
		if err != nil {
			return nil, fmt.Errorf("eks ListNodegroups %s: %w", name, err)
		}
		for _, g := range groups.Nodegroups {
			ng, err := ek.DescribeNodegroup(ctx, &eks.DescribeNodegroupInput{ClusterName: aws.String(name), NodegroupName: aws.String(g)})
			if err != nil {
				return nil, fmt.Errorf("eks DescribeNodegroup %s/%s: %w", name, g, err)
			}
			if ng.Nodegroup.Tags[reap.TagRunID] == run {
				add(aws.ToString(ng.Nodegroup.NodegroupArn))
			}
		}
	}
	return reap.Live(ctx, a.cfg, out)
}

// motoEC2Kinds are moto's DescribeTags resource types that EC2 names otherwise (in ARNs and in its own answers).
var motoEC2Kinds = map[string]string{"vpc-elastic-ip": "elastic-ip", "nat-gateway": "natgateway"}

func (a *applier) remove(ctx context.Context, rs []reap.Resource) error {
	if len(rs) == 0 {
		return nil
	}
	out, err := reap.Delete(ctx, a.cfg, rs)
	if err == nil && len(out.Failed) > 0 {
		err = fmt.Errorf("not deleted: %v", out.Failed)
	}
	return err
}

// forget drops the resources recorded from n on (deleted).
func (r *Result) forget(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.created = r.created[:n]
}

func say(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format+"\n", args...)
	}
}
