package emulate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cloud"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cloud/reap"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cluster"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/platform"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/shape"
)

var awsEffects = map[string]ekstypes.TaintEffect{"NoSchedule": ekstypes.TaintEffectNoSchedule, "NoExecute": ekstypes.TaintEffectNoExecute, "PreferNoSchedule": ekstypes.TaintEffectPreferNoSchedule}

// mapping is what the emulated apply does with one Terraform resource type: create it on the emulator through
// the SDK, or say why it is not created.
type mapping struct {
	// rank orders creation (what a resource refers to comes first); destroy deletes in the reverse of the
	// reaper's dependency order.
	rank   int
	create func(a *applier, ctx context.Context, i Instance) error
	// why, when create is nil: why the emulated apply does not create it.
	why string
}

// mappings is one entry per resource type the platform's Terraform declares (a test lists them against
// terraform/): the types that hold money or data, that the leak scan and the reaper meet, or that the flow
// reads are created; the rest are named with the reason.
var mappings = map[string]mapping{
	"aws_kms_key":               {rank: 0, create: (*applier).kmsKey},
	"aws_cloudwatch_log_group":  {rank: 0, create: (*applier).logGroup},
	"aws_iam_role":              {rank: 0, create: (*applier).role},
	"aws_vpc":                   {rank: 0, create: (*applier).vpc},
	"aws_s3_bucket":             {rank: 0, create: (*applier).artifactsBucket},
	"aws_sqs_queue":             {rank: 0, create: (*applier).queue},
	"aws_iam_instance_profile":  {rank: 1, create: (*applier).instanceProfile},
	"aws_subnet":                {rank: 1, create: (*applier).subnet},
	"aws_internet_gateway":      {rank: 1, create: (*applier).internetGateway},
	"aws_eip":                   {rank: 1, create: (*applier).eip},
	"aws_route_table":           {rank: 1, create: (*applier).routeTable},
	"aws_security_group":        {rank: 1, create: (*applier).securityGroup},
	"aws_launch_template":       {rank: 1, create: (*applier).launchTemplate},
	"aws_cloudwatch_event_rule": {rank: 1, create: (*applier).eventRule},
	"aws_s3_bucket_versioning":  {rank: 1, create: (*applier).bucketVersioning},
	"aws_s3_bucket_server_side_encryption_configuration": {rank: 1, create: (*applier).bucketEncryption},
	"aws_s3_bucket_public_access_block":                  {rank: 1, create: (*applier).bucketPublicAccessBlock},
	"aws_s3_bucket_ownership_controls":                   {rank: 1, create: (*applier).bucketOwnership},
	"aws_s3_bucket_lifecycle_configuration":              {rank: 1, create: (*applier).bucketLifecycle},
	"aws_nat_gateway":                                    {rank: 2, create: (*applier).natGateway},
	"aws_cloudwatch_event_target":                        {rank: 2, create: (*applier).eventTarget},
	"aws_eks_cluster":                                    {rank: 3, create: (*applier).cluster},
	"aws_eks_node_group":                                 {rank: 4, create: (*applier).nodeGroup},
	"aws_ec2_tag":                                        {rank: 4, create: (*applier).ec2Tag},

	"aws_iam_role_policy":               {why: "permissions: the emulator does not enforce IAM; node-iam, wiring/identity and wiring/karpenter judge them statically"},
	"aws_iam_role_policy_attachment":    {why: "permissions: the emulator does not enforce IAM; node-iam judges them statically"},
	"aws_iam_openid_connect_provider":   {why: "its URL is the EKS cluster's OIDC issuer, which moto's EKS does not serve; wiring/identity judges the trust statically"},
	"aws_eks_addon":                     {why: "moto's EKS implements no add-ons; the embedded cluster runs none"},
	"aws_eks_access_entry":              {why: "moto's EKS implements no access entries; the embedded cluster authorizes the harness as admin"},
	"aws_eks_access_policy_association": {why: "moto's EKS implements no access entries"},
	"aws_default_security_group":        {why: "configuration of the VPC's default security group (its rules removed): nothing to create"},
	"aws_route_table_association":       {why: "routing: nothing on the emulator routes packets"},
	"aws_vpc_endpoint":                  {why: "routing to S3 inside the VPC: nothing on the emulator routes packets"},
	"aws_sqs_queue_policy":              {why: "permissions: the emulator does not enforce queue policies"},
	"aws_db_subnet_group":               {why: "RDS is optional (enable_rds) and nothing in the emulated flow reads it"},
	"aws_db_instance":                   {why: "RDS is optional (enable_rds) and nothing in the emulated flow reads it"},
}

// Emulated is what the emulated apply did with Terraform's declared resources.
type Emulated struct {
	// Created are the addresses created on the emulator; NotCreated "address: why".
	Created, NotCreated []string
}

// applier creates instances on the emulator and remembers what it created, by address, for the references.
type applier struct {
	cfg    aws.Config
	s      *shape.Shape
	bucket string
	tags   map[string]string
	record func(arn string)
	ids    map[string]string // address -> id (vpc-..., subnet-..., role name, ...)
	arns   map[string]string // address -> ARN
	ec2    *ec2.Client
	// sends counts the SDK's calls and requests on cfg (a request sent again: a lost answer, lost.go).
	sends *sends
	// volumeTags are the launch templates' volume tag_specifications, by node group (their for_each key).
	volumeTags map[string]map[string]string
}

// one is the id of the only created instance of a type (by address prefix), or "".
func (a *applier) one(prefix string) string {
	for _, k := range slices.Sorted(maps.Keys(a.ids)) {
		if strings.HasPrefix(k, prefix) {
			return a.ids[k]
		}
	}
	return ""
}

// tagsOf are the instance's tags with the run's tags over them (they are in var.tags for every resource, but a
// tags expression known only after an apply still gets them).
func (a *applier) tagsOf(i Instance, typ string) map[string]string {
	t := i.Tags(typ)
	maps.Copy(t, a.tags)
	return t
}

func ec2Tags(typ ec2types.ResourceType, tags map[string]string) []ec2types.TagSpecification {
	var ts []ec2types.Tag
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		ts = append(ts, ec2types.Tag{Key: aws.String(k), Value: aws.String(tags[k])})
	}
	return []ec2types.TagSpecification{{ResourceType: typ, Tags: ts}}
}

func (a *applier) ec2ARN(kind, id string) string {
	return fmt.Sprintf("arn:aws:ec2:%s:%s:%s/%s", a.cfg.Region, platform.EmulatorAccount, kind, id)
}

// Result is what the emulated apply did: the shape and outputs of the applied infrastructure, the declared
// instances created and not created, and every AWS resource created (for the teardown, by ARN).
type Result struct {
	Emulated
	Shape   *shape.Shape
	Outputs map[string]any

	mu      sync.Mutex
	created []reap.Resource
}

// Resources are the AWS resources created so far (safe while Create runs).
func (r *Result) Resources() []reap.Resource {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]reap.Resource(nil), r.created...)
}

// Create creates on an emulator (c, started) what the nightly's `terraform apply` creates: every resource instance
// the platform's Terraform declares for the environment (count and for_each expanded, names and tags evaluated as
// Terraform would), one mapping per resource type, the node groups' root volumes with them (EC2 creates one per
// instance, tagged by the launch template); what cannot or need not be created is listed in the Result with the
// reason. Every resource carries run-id and expires-at as terraform/main.tf tags them. Used where the Terraform AWS
// provider cannot be installed (make test here) and by harness check's Karpenter AWS provider. On error the Result
// still lists what was created (infra.EmulateApply's teardown deletes it).
func Create(ctx context.Context, p *platform.Platform, c cloud.Cloud, runID, expiresAt string, progress io.Writer) (*Result, error) {
	if c.Name() == "aws" {
		return nil, errors.New("the emulated apply creates resources through the SDK: only on an emulator")
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
	insts, err := Declared(p, map[string]cty.Value{"run_id": cty.StringVal(runID), "expires_at": cty.StringVal(expiresAt)})
	if err != nil {
		return nil, fmt.Errorf("evaluate terraform/: %w", err)
	}
	res := &Result{Shape: s, Outputs: map[string]any{"cluster_name": s.ClusterName, "artifacts_bucket": bucket}}
	record := func(arn string) {
		res.mu.Lock()
		defer res.mu.Unlock()
		res.created = append(res.created, reap.FromARN(arn))
	}
	counted := &sends{}
	cfg = counted.instrument(cfg)
	a := &applier{cfg: cfg, s: s, bucket: bucket, record: record, ids: map[string]string{}, arns: map[string]string{}, ec2: ec2.NewFromConfig(cfg), volumeTags: map[string]map[string]string{},
		sends: counted, tags: map[string]string{reap.TagRunID: runID, reap.TagExpiresAt: expiresAt}}
	sort.SliceStable(insts, func(i, j int) bool { return mappings[insts[i].Type].rank < mappings[insts[j].Type].rank })
	for _, i := range insts {
		m, ok := mappings[i.Type]
		switch {
		case !ok:
			res.NotCreated = append(res.NotCreated, i.Address+": no mapping for "+i.Type+" (the emulated apply does not know it: add one to harness/infra/emulate's mappings)")
			continue
		case m.create == nil:
			res.NotCreated = append(res.NotCreated, i.Address+": "+m.why)
			continue
		case i.Key == "?":
			res.NotCreated = append(res.NotCreated, i.Address+": its count or for_each is known only after an apply")
			continue
		}
		if err := a.createOnce(ctx, res, m, i, progress); err != nil {
			return res, fmt.Errorf("create %s: %w", i.Address, err)
		}
		res.Created = append(res.Created, i.Address)
	}
	res.Outputs["cluster_endpoint"] = a.ids["cluster_endpoint"]
	if progress != nil {
		fmt.Fprintf(progress, "emulated apply: %d resource instances created, %d not created:\n", len(res.Created), len(res.NotCreated))
		for _, n := range res.NotCreated {
			fmt.Fprintf(progress, "  %s\n", n)
		}
	}
	return res, nil
}

func (a *applier) kmsKey(ctx context.Context, i Instance) error {
	var tags []kmstypes.Tag
	for k, v := range a.tagsOf(i, "") {
		tags = append(tags, kmstypes.Tag{TagKey: aws.String(k), TagValue: aws.String(v)})
	}
	out, err := kms.NewFromConfig(a.cfg).CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String(i.String("description")), Tags: tags})
	if err != nil {
		return err
	}
	a.ids[i.Address], a.arns[i.Address] = aws.ToString(out.KeyMetadata.KeyId), aws.ToString(out.KeyMetadata.Arn)
	a.record(a.arns[i.Address])
	return nil
}

func (a *applier) logGroup(ctx context.Context, i Instance) error {
	name := i.String("name")
	if name == "" {
		return errors.New("name not known before apply")
	}
	l := cloudwatchlogs.NewFromConfig(a.cfg)
	if _, err := l.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(name), Tags: a.tagsOf(i, "")}); err != nil {
		return err
	}
	if v := i.Value("retention_in_days"); v.IsKnown() && !v.IsNull() && v.Type() == cty.Number {
		days, _ := v.AsBigFloat().Int64()
		if _, err := l.PutRetentionPolicy(ctx, &cloudwatchlogs.PutRetentionPolicyInput{LogGroupName: aws.String(name), RetentionInDays: aws.Int32(int32(days))}); err != nil {
			return err
		}
	}
	a.ids[i.Address] = name
	a.record(fmt.Sprintf("arn:aws:logs:%s:%s:log-group:%s", a.cfg.Region, platform.EmulatorAccount, name))
	return nil
}

// roleName is name, or name_prefix with the instance's key (Terraform appends a unique suffix).
func roleName(i Instance) string {
	if n := i.String("name"); n != "" {
		return n
	}
	return i.String("name_prefix") + "emulated" + strings.ReplaceAll(i.Key, "_", "")
}

func (a *applier) role(ctx context.Context, i Instance) error {
	trust := i.String("assume_role_policy")
	if trust == "" { // built from a policy document or a resource known only after apply
		trust = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`
	}
	var tags []iamtypes.Tag
	for k, v := range a.tagsOf(i, "") {
		tags = append(tags, iamtypes.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	name := roleName(i)
	out, err := iam.NewFromConfig(a.cfg).CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(name), AssumeRolePolicyDocument: aws.String(trust), Tags: tags})
	if err != nil {
		return err
	}
	a.ids[i.Address], a.arns[i.Address] = name, aws.ToString(out.Role.Arn)
	a.record(a.arns[i.Address])
	return nil
}

func (a *applier) instanceProfile(ctx context.Context, i Instance) error {
	name := i.String("name")
	if name == "" {
		return errors.New("name not known before apply")
	}
	var tags []iamtypes.Tag
	for k, v := range a.tagsOf(i, "") {
		tags = append(tags, iamtypes.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	c := iam.NewFromConfig(a.cfg)
	out, err := c.CreateInstanceProfile(ctx, &iam.CreateInstanceProfileInput{InstanceProfileName: aws.String(name), Tags: tags})
	if err != nil {
		return err
	}
	a.ids[i.Address] = name
	a.record(aws.ToString(out.InstanceProfile.Arn))
	// The role is named by reference (aws_iam_role.<x>[0].name): the one created under that address.
	if ref := refAddress(i, "role"); ref != "" && a.ids[ref] != "" {
		if _, err := c.AddRoleToInstanceProfile(ctx, &iam.AddRoleToInstanceProfileInput{InstanceProfileName: aws.String(name), RoleName: aws.String(a.ids[ref])}); err != nil {
			return err
		}
	}
	return nil
}

// refAddress is the address an attribute's first reference names, in the instance's module
// (aws_iam_role.karpenter_node[0].name -> aws_iam_role.karpenter_node[0]).
func refAddress(i Instance, attr string) string {
	at, ok := i.b.Body.Attributes[attr]
	if !ok {
		return ""
	}
	vars := at.Expr.Variables()
	if len(vars) == 0 || len(vars[0]) < 2 {
		return ""
	}
	tr := vars[0]
	name, ok := tr[1].(hcl.TraverseAttr)
	if !ok {
		return ""
	}
	prefix, _, _ := strings.Cut(i.Address, i.Type+".")
	out := prefix + tr.RootName() + "." + name.Name
	// resource.x[each.key] / [count.index]: an index expression, not part of the traversal.
	if ix, ok := at.Expr.(*hclsyntax.RelativeTraversalExpr); ok {
		if ie, ok := ix.Source.(*hclsyntax.IndexExpr); ok {
			if k, err := i.m.Eval(ie.Key, i.extra); err == nil && k.IsKnown() && !k.IsNull() {
				if k.Type() == cty.String {
					return out + fmt.Sprintf("[%q]", k.AsString())
				}
				n, _ := k.AsBigFloat().Int64()
				return out + fmt.Sprintf("[%d]", n)
			}
		}
	}
	if len(tr) > 2 {
		if idx, ok := tr[2].(hcl.TraverseIndex); ok {
			if idx.Key.Type() == cty.String {
				out += fmt.Sprintf("[%q]", idx.Key.AsString())
			} else {
				n, _ := idx.Key.AsBigFloat().Int64()
				out += fmt.Sprintf("[%d]", n)
			}
		}
	}
	return out
}

func (a *applier) vpc(ctx context.Context, i Instance) error {
	if i.String("cidr_block") == "" {
		return errors.New("cidr_block not known before apply")
	}
	out, err := a.ec2.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String(i.String("cidr_block")), TagSpecifications: ec2Tags(ec2types.ResourceTypeVpc, a.tagsOf(i, ""))})
	if err != nil {
		return err
	}
	a.ids[i.Address] = aws.ToString(out.Vpc.VpcId)
	a.record(a.ec2ARN("vpc", a.ids[i.Address]))
	return nil
}

// vpcID is the VPC of the instance's module (the platform has one).
func (a *applier) vpcID() (string, error) {
	for k, v := range a.ids {
		if strings.HasSuffix(k, "aws_vpc.this") || strings.Contains(k, "aws_vpc.") {
			return v, nil
		}
	}
	return "", errors.New("no VPC created")
}

func (a *applier) subnet(ctx context.Context, i Instance) error {
	vpc, err := a.vpcID()
	if err != nil {
		return err
	}
	if i.String("cidr_block") == "" || i.String("availability_zone") == "" {
		return errors.New("cidr_block or availability_zone not known before apply")
	}
	out, err := a.ec2.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: aws.String(vpc), CidrBlock: aws.String(i.String("cidr_block")),
		AvailabilityZone: aws.String(i.String("availability_zone")), TagSpecifications: ec2Tags(ec2types.ResourceTypeSubnet, a.tagsOf(i, ""))})
	if err != nil {
		return err
	}
	a.ids[i.Address] = aws.ToString(out.Subnet.SubnetId)
	a.record(a.ec2ARN("subnet", a.ids[i.Address]))
	return nil
}

func (a *applier) internetGateway(ctx context.Context, i Instance) error {
	vpc, err := a.vpcID()
	if err != nil {
		return err
	}
	out, err := a.ec2.CreateInternetGateway(ctx, &ec2.CreateInternetGatewayInput{TagSpecifications: ec2Tags(ec2types.ResourceTypeInternetGateway, a.tagsOf(i, ""))})
	if err != nil {
		return err
	}
	id := aws.ToString(out.InternetGateway.InternetGatewayId)
	if _, err := a.ec2.AttachInternetGateway(ctx, &ec2.AttachInternetGatewayInput{InternetGatewayId: aws.String(id), VpcId: aws.String(vpc)}); err != nil {
		return err
	}
	a.ids[i.Address] = id
	a.record(a.ec2ARN("internet-gateway", id))
	return nil
}

func (a *applier) eip(ctx context.Context, i Instance) error {
	out, err := a.ec2.AllocateAddress(ctx, &ec2.AllocateAddressInput{Domain: ec2types.DomainTypeVpc, TagSpecifications: ec2Tags(ec2types.ResourceTypeElasticIp, a.tagsOf(i, ""))})
	if err != nil {
		return err
	}
	a.ids[i.Address] = aws.ToString(out.AllocationId)
	a.record(a.ec2ARN("elastic-ip", a.ids[i.Address]))
	return nil
}

func (a *applier) natGateway(ctx context.Context, i Instance) error {
	subnet, eip := a.ids[refAddress(i, "subnet_id")], a.ids[refAddress(i, "allocation_id")]
	if subnet == "" || eip == "" {
		return fmt.Errorf("its subnet (%s) or address (%s) was not created", refAddress(i, "subnet_id"), refAddress(i, "allocation_id"))
	}
	out, err := a.ec2.CreateNatGateway(ctx, &ec2.CreateNatGatewayInput{SubnetId: aws.String(subnet), AllocationId: aws.String(eip),
		TagSpecifications: ec2Tags(ec2types.ResourceTypeNatgateway, a.tagsOf(i, ""))})
	if err != nil {
		// The retry of a CreateNatGateway whose answer was lost (lost.go) is told the address is taken — by the
		// gateway the lost attempt created, which is taken as this one. (EC2 would have answered the retry with that
		// gateway: the SDK sends the same ClientToken. moto ignores it, and keeps a deleted gateway's address
		// associated, so the general repair cannot delete and create again.)
		id, ok := a.natOfLostAnswer(ctx, subnet, eip, err)
		if !ok {
			return err
		}
		a.ids[i.Address] = id
		a.record(a.ec2ARN("natgateway", id))
		return nil
	}
	a.ids[i.Address] = aws.ToString(out.NatGateway.NatGatewayId)
	a.record(a.ec2ARN("natgateway", a.ids[i.Address]))
	return nil
}

// natOfLostAnswer is the live NAT gateway in subnet holding the address eip, tagged with the run, that no resource
// of the apply holds, when err is EC2's Resource.AlreadyAssociated.
func (a *applier) natOfLostAnswer(ctx context.Context, subnet, eip string, err error) (string, bool) {
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "Resource.AlreadyAssociated" {
		return "", false
	}
	out, derr := a.ec2.DescribeNatGateways(ctx, &ec2.DescribeNatGatewaysInput{Filter: []ec2types.Filter{
		{Name: aws.String("subnet-id"), Values: []string{subnet}}, {Name: aws.String("tag:" + reap.TagRunID), Values: []string{a.tags[reap.TagRunID]}}}})
	if derr != nil {
		return "", false
	}
	var found []string
	for _, n := range out.NatGateways {
		if n.State == ec2types.NatGatewayStateDeleted || n.State == ec2types.NatGatewayStateDeleting || slices.Contains(slices.Collect(maps.Values(a.ids)), aws.ToString(n.NatGatewayId)) {
			continue
		}
		if slices.ContainsFunc(n.NatGatewayAddresses, func(ad ec2types.NatGatewayAddress) bool { return aws.ToString(ad.AllocationId) == eip }) {
			found = append(found, aws.ToString(n.NatGatewayId))
		}
	}
	if len(found) != 1 {
		return "", false
	}
	return found[0], true
}

func (a *applier) routeTable(ctx context.Context, i Instance) error {
	vpc, err := a.vpcID()
	if err != nil {
		return err
	}
	out, err := a.ec2.CreateRouteTable(ctx, &ec2.CreateRouteTableInput{VpcId: aws.String(vpc), TagSpecifications: ec2Tags(ec2types.ResourceTypeRouteTable, a.tagsOf(i, ""))})
	if err != nil {
		return err
	}
	a.ids[i.Address] = aws.ToString(out.RouteTable.RouteTableId)
	a.record(a.ec2ARN("route-table", a.ids[i.Address]))
	return nil
}

func (a *applier) securityGroup(ctx context.Context, i Instance) error {
	vpc, err := a.vpcID()
	if err != nil {
		return err
	}
	name := i.String("name")
	if name == "" {
		name = i.String("name_prefix") + "emulated"
	}
	desc := i.String("description")
	if desc == "" {
		desc = "Managed by Terraform"
	}
	out, err := a.ec2.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String(name), Description: aws.String(desc), VpcId: aws.String(vpc),
		TagSpecifications: ec2Tags(ec2types.ResourceTypeSecurityGroup, a.tagsOf(i, ""))})
	if err != nil {
		return err
	}
	a.ids[i.Address] = aws.ToString(out.GroupId)
	a.record(a.ec2ARN("security-group", a.ids[i.Address]))
	return nil
}

func (a *applier) launchTemplate(ctx context.Context, i Instance) error {
	name := i.String("name")
	if name == "" {
		name = i.String("name_prefix") + "emulated"
	}
	out, err := a.ec2.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String(name), LaunchTemplateData: &ec2types.RequestLaunchTemplateData{},
		TagSpecifications: ec2Tags(ec2types.ResourceTypeLaunchTemplate, a.tagsOf(i, ""))})
	if err != nil {
		return err
	}
	a.ids[i.Address] = aws.ToString(out.LaunchTemplate.LaunchTemplateId)
	a.record(a.ec2ARN("launch-template", a.ids[i.Address]))
	a.volumeTags[i.Key] = a.tagsOf(i, "volume")
	return nil
}

func (a *applier) queue(ctx context.Context, i Instance) error {
	name := i.String("name")
	if name == "" {
		return errors.New("name not known before apply")
	}
	c := sqs.NewFromConfig(a.cfg)
	out, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Tags: a.tagsOf(i, "")})
	if err != nil {
		return err
	}
	attrs, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: out.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		return err
	}
	a.ids[i.Address], a.arns[i.Address] = name, attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]
	a.record(a.arns[i.Address])
	return nil
}

func (a *applier) eventRule(ctx context.Context, i Instance) error {
	name := i.String("name")
	if name == "" {
		return errors.New("name not known before apply")
	}
	var tags []ebtypes.Tag
	for k, v := range a.tagsOf(i, "") {
		tags = append(tags, ebtypes.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	out, err := eventbridge.NewFromConfig(a.cfg).PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String(name), EventPattern: aws.String(i.String("event_pattern")), Tags: tags})
	if err != nil {
		return err
	}
	a.ids[i.Address], a.arns[i.Address] = name, aws.ToString(out.RuleArn)
	a.record(a.arns[i.Address])
	return nil
}

// eventTarget sends a rule's events to the queue it names: deleted with its rule.
func (a *applier) eventTarget(ctx context.Context, i Instance) error {
	rule, target := a.ids[refAddress(i, "rule")], a.arns[refAddress(i, "arn")]
	if rule == "" || target == "" {
		return fmt.Errorf("its rule (%s) or target (%s) was not created", refAddress(i, "rule"), refAddress(i, "arn"))
	}
	_, err := eventbridge.NewFromConfig(a.cfg).PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String(rule),
		Targets: []ebtypes.Target{{Id: aws.String(i.String("target_id")), Arn: aws.String(target)}}})
	return err
}

func (a *applier) s3() *s3.Client {
	return s3.NewFromConfig(a.cfg, func(o *s3.Options) { o.UsePathStyle = true })
}

// bucket is the artifacts bucket under the name the GitOps Bridge computed (local.artifacts_bucket).
func (a *applier) artifactsBucket(ctx context.Context, i Instance) error {
	name := i.String("bucket")
	if name == "" {
		name = a.bucket
	}
	sc := a.s3()
	if _, err := sc.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		return err
	}
	a.ids[i.Address] = name
	a.record("arn:aws:s3:::" + name)
	var ts []s3types.Tag
	tags := a.tagsOf(i, "")
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		ts = append(ts, s3types.Tag{Key: aws.String(k), Value: aws.String(tags[k])})
	}
	_, err := sc.PutBucketTagging(ctx, &s3.PutBucketTaggingInput{Bucket: aws.String(name), Tagging: &s3types.Tagging{TagSet: ts}})
	return err
}

// bucketOf is the bucket a bucket configuration names (bucket = aws_s3_bucket.x.id).
func (a *applier) bucketOf(i Instance) (string, error) {
	if b := a.ids[refAddress(i, "bucket")]; b != "" {
		return b, nil
	}
	return "", fmt.Errorf("its bucket (%s) was not created", refAddress(i, "bucket"))
}

func (a *applier) bucketVersioning(ctx context.Context, i Instance) error {
	b, err := a.bucketOf(i)
	if err != nil {
		return err
	}
	_, err = a.s3().PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(b),
		VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled}})
	return err
}

func (a *applier) bucketEncryption(ctx context.Context, i Instance) error {
	b, err := a.bucketOf(i)
	if err != nil {
		return err
	}
	_, err = a.s3().PutBucketEncryption(ctx, &s3.PutBucketEncryptionInput{Bucket: aws.String(b),
		ServerSideEncryptionConfiguration: &s3types.ServerSideEncryptionConfiguration{Rules: []s3types.ServerSideEncryptionRule{{
			ApplyServerSideEncryptionByDefault: &s3types.ServerSideEncryptionByDefault{SSEAlgorithm: s3types.ServerSideEncryptionAwsKms}}}}})
	return err
}

func (a *applier) bucketPublicAccessBlock(ctx context.Context, i Instance) error {
	b, err := a.bucketOf(i)
	if err != nil {
		return err
	}
	flag := func(n string) *bool {
		v := i.Value(n)
		return aws.Bool(v.IsKnown() && !v.IsNull() && v.Type() == cty.Bool && v.True())
	}
	_, err = a.s3().PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{Bucket: aws.String(b),
		PublicAccessBlockConfiguration: &s3types.PublicAccessBlockConfiguration{BlockPublicAcls: flag("block_public_acls"),
			BlockPublicPolicy: flag("block_public_policy"), IgnorePublicAcls: flag("ignore_public_acls"), RestrictPublicBuckets: flag("restrict_public_buckets")}})
	return err
}

func (a *applier) bucketOwnership(ctx context.Context, i Instance) error {
	b, err := a.bucketOf(i)
	if err != nil {
		return err
	}
	_, err = a.s3().PutBucketOwnershipControls(ctx, &s3.PutBucketOwnershipControlsInput{Bucket: aws.String(b),
		OwnershipControls: &s3types.OwnershipControls{Rules: []s3types.OwnershipControlsRule{{ObjectOwnership: s3types.ObjectOwnershipBucketOwnerEnforced}}}})
	return err
}

func (a *applier) bucketLifecycle(ctx context.Context, i Instance) error {
	b, err := a.bucketOf(i)
	if err != nil {
		return err
	}
	_, err = a.s3().PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{Bucket: aws.String(b),
		LifecycleConfiguration: &s3types.BucketLifecycleConfiguration{Rules: []s3types.LifecycleRule{{
			ID: aws.String("expire-noncurrent-versions"), Status: s3types.ExpirationStatusEnabled, Filter: &s3types.LifecycleRuleFilter{Prefix: aws.String("")},
			NoncurrentVersionExpiration:    &s3types.NoncurrentVersionExpiration{NoncurrentDays: aws.Int32(30)},
			AbortIncompleteMultipartUpload: &s3types.AbortIncompleteMultipartUpload{DaysAfterInitiation: aws.Int32(7)}}}}})
	return err
}

// subnetsOf are the created subnets a list attribute names through a module output (the node and
// control-plane subnets: module.vpc.private_subnet_ids), by the VPC module's private subnets.
func (a *applier) privateSubnets() []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(a.ids)) {
		if strings.Contains(k, "aws_subnet.private[") {
			out = append(out, a.ids[k])
		}
	}
	return out
}

func (a *applier) cluster(ctx context.Context, i Instance) error {
	s := a.s
	subnets := a.privateSubnets()
	role := a.arns[refAddress(i, "role_arn")]
	if role == "" || len(subnets) == 0 {
		return fmt.Errorf("its role (%s) or subnets were not created", refAddress(i, "role_arn"))
	}
	cl, err := eks.NewFromConfig(a.cfg).CreateCluster(ctx, &eks.CreateClusterInput{Name: aws.String(s.ClusterName), Version: aws.String(s.KubernetesVersion),
		RoleArn: aws.String(role), ResourcesVpcConfig: &ekstypes.VpcConfigRequest{SubnetIds: subnets}, Tags: a.tagsOf(i, "")})
	if err != nil {
		return err
	}
	a.ids[i.Address], a.ids["cluster_endpoint"] = s.ClusterName, aws.ToString(cl.Cluster.Endpoint)
	a.record(aws.ToString(cl.Cluster.Arn))
	// EKS creates the cluster security group in the cluster's VPC (vpc_config's cluster_security_group_id, which
	// managed nodes get); moto's EKS does not, so it is created here as EKS names and tags it.
	sn, err := a.ec2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: subnets[:1]})
	if err != nil {
		return fmt.Errorf("the cluster's subnet %s: %w", subnets[0], err)
	}
	if len(sn.Subnets) == 0 {
		return fmt.Errorf("the cluster's subnet %s: not found", subnets[0])
	}
	tags := map[string]string{"kubernetes.io/cluster/" + s.ClusterName: "owned"}
	maps.Copy(tags, a.tags)
	sg, err := a.ec2.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("eks-cluster-sg-" + s.ClusterName),
		Description: aws.String("EKS created security group applied to ENI that is attached to EKS Control Plane master nodes, as well as any managed workloads."),
		VpcId:       sn.Subnets[0].VpcId, TagSpecifications: ec2Tags(ec2types.ResourceTypeSecurityGroup, tags)})
	if err != nil {
		return fmt.Errorf("the cluster security group EKS creates: %w", err)
	}
	a.ids[i.Address+".vpc_config[0].cluster_security_group_id"] = aws.ToString(sg.GroupId)
	a.record(a.ec2ARN("security-group", aws.ToString(sg.GroupId)))
	return nil
}

// ec2Tag adds a tag to a resource the apply created. The platform tags one resource this way: the cluster
// security group EKS creates (resource_id is the eks module's node_security_group_id output, which is
// aws_eks_cluster.this.vpc_config[0].cluster_security_group_id); another resource_id is an error naming it.
func (a *applier) ec2Tag(ctx context.Context, i Instance) error {
	at, ok := i.b.Body.Attributes["resource_id"]
	if !ok || len(at.Expr.Variables()) == 0 {
		return errors.New("resource_id is not a reference")
	}
	ref := traversalString(at.Expr.Variables()[0])
	var id string
	if ref == "module.eks.node_security_group_id" {
		for k, v := range a.ids {
			if strings.HasSuffix(k, "aws_eks_cluster.this.vpc_config[0].cluster_security_group_id") {
				id = v
			}
		}
	}
	if id == "" {
		return fmt.Errorf("resource_id %s: the emulated apply knows no ID for it (it knows the cluster security group, module.eks.node_security_group_id)", ref)
	}
	key, value := i.String("key"), i.String("value")
	if key == "" || !i.Value("value").IsWhollyKnown() {
		return errors.New("key or value not known before apply")
	}
	_, err := a.ec2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{id}, Tags: []ec2types.Tag{{Key: aws.String(key), Value: aws.String(value)}}})
	return err
}

// traversalString writes a reference as Terraform does: module.eks.node_security_group_id.
func traversalString(tr hcl.Traversal) string {
	var b strings.Builder
	b.WriteString(tr.RootName())
	for _, step := range tr[1:] {
		if s, ok := step.(hcl.TraverseAttr); ok {
			b.WriteString("." + s.Name)
		}
	}
	return b.String()
}

// nodeGroup creates the node group as the shape holds it (the shape is read from the same node_groups variable)
// and the root volume EC2 gives each of its desired instances, tagged by the launch template (deleted with the
// instances on EKS, with the node group here).
func (a *applier) nodeGroup(ctx context.Context, i Instance) error {
	s := a.s
	var g *shape.NodeGroup
	for k := range s.Groups {
		if s.Groups[k].Name == i.Key {
			g = &s.Groups[k]
		}
	}
	if g == nil {
		return fmt.Errorf("no node group %q in the shape", i.Key)
	}
	subnets := a.privateSubnets()
	role := a.arns[refAddress(i, "node_role_arn")]
	if role == "" || len(subnets) == 0 {
		return fmt.Errorf("its role (%s) or subnets were not created", refAddress(i, "node_role_arn"))
	}
	var taints []ekstypes.Taint
	for _, tt := range g.Taints {
		taints = append(taints, ekstypes.Taint{Key: aws.String(tt.Key), Value: aws.String(tt.Value), Effect: awsEffects[string(tt.Effect)]})
	}
	ng, err := eks.NewFromConfig(a.cfg).CreateNodegroup(ctx, &eks.CreateNodegroupInput{ClusterName: aws.String(s.ClusterName), NodegroupName: aws.String(g.Name),
		NodeRole: aws.String(role), Subnets: subnets[:1],
		InstanceTypes: g.InstanceTypes, CapacityType: ekstypes.CapacityTypes(g.CapacityType), Labels: g.Labels, Taints: taints, Tags: a.tagsOf(i, ""),
		ScalingConfig: &ekstypes.NodegroupScalingConfig{MinSize: aws.Int32(int32(g.MinSize)), MaxSize: aws.Int32(int32(g.MaxSize)), DesiredSize: aws.Int32(int32(g.DesiredSize))}})
	if err != nil {
		return err
	}
	a.record(aws.ToString(ng.Nodegroup.NodegroupArn))
	sn, err := a.ec2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: subnets[:1]})
	if err != nil || len(sn.Subnets) == 0 {
		return fmt.Errorf("node subnet %s: %v", subnets[0], err)
	}
	tags := a.volumeTags[g.Name]
	if tags == nil {
		tags = a.tags
	}
	size := int32(max(g.DiskSizeGiB, shape.DefaultDiskSizeGiB))
	for range g.DesiredSize {
		v, err := a.ec2.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: sn.Subnets[0].AvailabilityZone, Size: aws.Int32(size), VolumeType: ec2types.VolumeTypeGp3,
			Encrypted: aws.Bool(true), TagSpecifications: ec2Tags(ec2types.ResourceTypeVolume, tags)})
		if err != nil {
			return fmt.Errorf("root volume: %w", err)
		}
		a.record(a.ec2ARN("volume", aws.ToString(v.VolumeId)))
	}
	return nil
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
