package nightly

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/servicequotas"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/platform"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/shape"
)

// Preflight runs before `terraform apply`, where a fresh account most often stops a nightly that has already
// spent money: vCPU quotas, zones and the revision Argo CD will fetch.

// Quota is one EC2 on-demand vCPU quota (Service Quotas, service code ec2) and what the run may launch under it.
type Quota struct {
	Code, Name string
	// Need is the vCPUs the run may run at once under the quota; From says where they come from.
	Need int
	From []string
}

// vcpuQuotas are EC2's on-demand vCPU quotas by instance family letter (Service Quotas, "Running On-Demand ...
// instances"; EC2 user guide, "On-Demand Instance quotas").
var vcpuQuotas = []struct {
	code, name, families string
}{
	{"L-1216C47A", "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances", "acdhimrtz"},
	{"L-DB2E81BA", "Running On-Demand G and VT instances", "g"},
	{"L-417A185B", "Running On-Demand P instances", "p"},
	{"L-7295265B", "Running On-Demand X instances", "x"},
	{"L-74FC7D96", "Running On-Demand F instances", "f"},
	{"L-6E869C2A", "Running On-Demand Inf instances", ""},
}

func quotaOf(instanceType string) int {
	if strings.HasPrefix(instanceType, "inf") {
		return len(vcpuQuotas) - 1
	}
	if strings.HasPrefix(instanceType, "vt") {
		return 1
	}
	for i, q := range vcpuQuotas {
		if instanceType != "" && strings.ContainsRune(q.families, rune(instanceType[0])) {
			return i
		}
	}
	return -1
}

// Needs are the vCPU quotas the platform may use at once: every on-demand node group at its max size (gpu-capacity
// scales GPU groups up to it), and every Karpenter NodePool with a GPU limit at that limit, as the cheapest GPU
// instance type it allows per GPU (what Karpenter launches for the platform's one-GPU pods: the cheapest type
// that fits). Not the largest type's vCPUs: that worst case would refuse accounts the run fits in.
func Needs(p *platform.Platform) []Quota {
	need := make([]Quota, len(vcpuQuotas))
	for i, q := range vcpuQuotas {
		need[i] = Quota{Code: q.code, Name: q.name}
	}
	for _, g := range p.Shape.Groups {
		if g.CapacityType != "" && g.CapacityType != "ON_DEMAND" {
			continue
		}
		if i := quotaOf(g.Instance.Name); i >= 0 {
			need[i].Need += g.MaxSize * g.Instance.VCPU
			need[i].From = append(need[i].From, fmt.Sprintf("node group %s: %d × %s (%d vCPU)", g.Name, g.MaxSize, g.Instance.Name, g.Instance.VCPU))
		}
	}
	for _, np := range p.NodePools() {
		if np.GPULimit == nil || *np.GPULimit <= 0 {
			continue
		}
		var worst shape.InstanceType
		for _, t := range shape.InstanceTypes() {
			if t.GPUs > 0 && np.Allows(t.Name) && (worst.Name == "" || t.OnDemandUSDPerHour/float64(t.GPUs) < worst.OnDemandUSDPerHour/float64(worst.GPUs)) {
				worst = t
			}
		}
		if worst.Name == "" {
			continue
		}
		if i := quotaOf(worst.Name); i >= 0 {
			n := int(*np.GPULimit) / worst.GPUs * worst.VCPU
			need[i].Need += n
			need[i].From = append(need[i].From, fmt.Sprintf("Karpenter NodePool %s: %d GPUs as %s (%d vCPU)", np.Name, *np.GPULimit, worst.Name, n))
		}
	}
	return slices.DeleteFunc(need, func(q Quota) bool { return q.Need == 0 })
}

// CheckQuotas compares each needed quota with the account's value (GetServiceQuota; the AWS default when the
// account has not changed it, ListAWSDefaultServiceQuotas' value otherwise). Each quota below the need is one
// problem naming it, its code, the value and the need.
func CheckQuotas(ctx context.Context, sq *servicequotas.Client, needs []Quota) ([]string, error) {
	var problems []string
	for _, q := range needs {
		out, err := sq.GetServiceQuota(ctx, &servicequotas.GetServiceQuotaInput{ServiceCode: aws.String("ec2"), QuotaCode: aws.String(q.Code)})
		if err != nil {
			d, derr := sq.GetAWSDefaultServiceQuota(ctx, &servicequotas.GetAWSDefaultServiceQuotaInput{ServiceCode: aws.String("ec2"), QuotaCode: aws.String(q.Code)})
			if derr != nil {
				return nil, fmt.Errorf("quota %s (%s): %w", q.Code, q.Name, errors.Join(err, derr))
			}
			out = &servicequotas.GetServiceQuotaOutput{Quota: d.Quota}
		}
		have := math.Inf(1)
		if out.Quota != nil && out.Quota.Value != nil {
			have = *out.Quota.Value
		}
		if have < float64(q.Need) {
			problems = append(problems, fmt.Sprintf("quota %s %q is %g vCPU in this account and region; the run may need %d (%s): request an increase (Service Quotas) or lower the max sizes",
				q.Code, q.Name, have, q.Need, strings.Join(q.From, "; ")))
		}
	}
	return problems, nil
}

// eksUnsupportedZones are the zone IDs where EKS cannot place a cluster's control-plane network interfaces (EKS
// user guide, "VPC and subnet requirements": a CreateCluster naming a subnet there fails with
// UnsupportedAvailabilityZoneException).
var eksUnsupportedZones = map[string]bool{"use1-az3": true, "usw1-az2": true, "cac1-az3": true}

// Zones picks n zones of the region for the cluster: available, of type availability-zone, supported by EKS; the
// first (the nodes' zone, single-AZ data plane) offers every one of nodeTypes (DescribeInstanceTypeOfferings).
// It replaces the `<region>a/b` guess: zone letters map to different zones in each account, and not every one
// offers g4dn or hosts EKS.
func Zones(ctx context.Context, c *ec2.Client, n int, nodeTypes []string) ([]string, error) {
	azs, err := c.DescribeAvailabilityZones(ctx, &ec2.DescribeAvailabilityZonesInput{Filters: []ec2types.Filter{
		{Name: aws.String("state"), Values: []string{"available"}}, {Name: aws.String("zone-type"), Values: []string{"availability-zone"}}}})
	if err != nil {
		return nil, fmt.Errorf("describe availability zones: %w", err)
	}
	offers := map[string]map[string]bool{} // zone -> instance types offered
	p := ec2.NewDescribeInstanceTypeOfferingsPaginator(c, &ec2.DescribeInstanceTypeOfferingsInput{LocationType: ec2types.LocationTypeAvailabilityZone,
		Filters: []ec2types.Filter{{Name: aws.String("instance-type"), Values: nodeTypes}}})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("describe instance type offerings: %w", err)
		}
		for _, o := range page.InstanceTypeOfferings {
			z := aws.ToString(o.Location)
			if offers[z] == nil {
				offers[z] = map[string]bool{}
			}
			offers[z][string(o.InstanceType)] = true
		}
	}
	var eks []string
	nodes := ""
	var skipped []string
	for _, z := range azs.AvailabilityZones {
		name, id := aws.ToString(z.ZoneName), aws.ToString(z.ZoneId)
		if eksUnsupportedZones[id] {
			skipped = append(skipped, fmt.Sprintf("%s (%s: EKS does not support it)", name, id))
			continue
		}
		eks = append(eks, name)
		missing := slices.DeleteFunc(slices.Clone(nodeTypes), func(t string) bool { return offers[name][t] })
		if nodes == "" && len(missing) == 0 {
			nodes = name
		} else if len(missing) > 0 {
			skipped = append(skipped, fmt.Sprintf("%s (no %s)", name, strings.Join(missing, ", ")))
		}
	}
	if nodes == "" {
		return nil, fmt.Errorf("no zone of the region both supports EKS and offers %s: %s", strings.Join(nodeTypes, ", "), strings.Join(skipped, "; "))
	}
	out := []string{nodes}
	for _, z := range eks {
		if len(out) < n && z != nodes {
			out = append(out, z)
		}
	}
	if len(out) < n {
		return nil, fmt.Errorf("%d zone(s) support EKS, %d needed: %s", len(out), n, strings.Join(skipped, "; "))
	}
	return out, nil
}

// RevisionFetchable fails unless the commit Argo CD will fetch is on a branch or tag of the repository it fetches
// from (repoURL, as the root Application names it): an unpushed commit, or a fork Argo CD does not read, would
// otherwise fail the sync after the apply with "unable to resolve revision". The check lists the remote's refs
// (git ls-remote) and asks the local repository whether the commit is one of them or an ancestor of one.
func RevisionFetchable(ctx context.Context, root, repoURL, rev string) error {
	out, err := exec.CommandContext(ctx, "git", "-C", root, "ls-remote", repoURL).Output()
	if err != nil {
		return fmt.Errorf("git ls-remote %s (Argo CD fetches the platform from there; a private repository needs credentials in Argo CD and here): %w", repoURL, err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		sha, ref, ok := strings.Cut(line, "\t")
		if !ok || !(strings.HasPrefix(ref, "refs/heads/") || strings.HasPrefix(ref, "refs/tags/")) {
			continue
		}
		if sha == rev {
			return nil
		}
		if exec.CommandContext(ctx, "git", "-C", root, "merge-base", "--is-ancestor", rev, sha).Run() == nil {
			return nil
		}
	}
	return fmt.Errorf("commit %s is on no branch or tag of %s (unpushed, or pushed to another fork): Argo CD on EKS cannot fetch it; push it, or set the root Application's repoURL to where it is", rev, repoURL)
}

// TeardownBudget is what the staged destroy and the leak scan may take (an EKS cluster, its node groups and a NAT
// gateway take 15-25 minutes to delete; a stuck ENI or volume detach can take most of an hour).
const TeardownBudget = 60 * time.Minute

// WorkDeadline is when the run's own work must stop for its teardown to finish before go test's deadline kills
// the process: the teardown's budget and 15 minutes of margin before it (a slow failing run is never killed
// mid-destroy).
func WorkDeadline(testDeadline time.Time) time.Time {
	return testDeadline.Add(-TeardownBudget - 15*time.Minute)
}

// Preflight runs the checks of this file against the account before apply: the zones to apply with (the nodes'
// zone first), the vCPU quotas against the plan's need, and the revision Argo CD will fetch from repoURL.
func Preflight(ctx context.Context, cfg aws.Config, p *platform.Platform, root, repoURL, rev string) ([]string, error) {
	var types []string
	for _, g := range p.Shape.Groups {
		types = append(types, g.InstanceTypes...)
	}
	slices.Sort(types)
	zones, err := Zones(ctx, ec2.NewFromConfig(cfg), 2, slices.Compact(types))
	if err != nil {
		return nil, fmt.Errorf("preflight: zones: %w", err)
	}
	problems, err := CheckQuotas(ctx, servicequotas.NewFromConfig(cfg), Needs(p))
	if err != nil {
		return nil, fmt.Errorf("preflight: quotas: %w", err)
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("preflight: %s", strings.Join(problems, "; "))
	}
	if err := RevisionFetchable(ctx, root, repoURL, rev); err != nil {
		return nil, fmt.Errorf("preflight: %w", err)
	}
	return zones, nil
}
