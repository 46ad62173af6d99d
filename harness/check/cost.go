package check

import (
	"fmt"
	"strings"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/platform"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/shape"
)

// Budget is what a session on the platform may cost.
type Budget struct {
	USD   float64
	Hours float64
}

// DefaultBudget is the seed design's: $10 for a 10-hour working session.
var DefaultBudget = Budget{USD: 10, Hours: 10}

// Cost prices the environment at desired size (nodes, EKS control plane, one NAT gateway) from the catalog and
// compares a session of b.Hours with b.USD.
func Cost(p *platform.Platform, b Budget) result.Result {
	const name = "cost"
	hourly := p.Shape.HourlyUSD()
	var lines []string
	for _, g := range p.Shape.Groups {
		lines = append(lines, fmt.Sprintf("%s: %d x %s at $%.4f/h = $%.4f/h (max %d: $%.4f/h)", g.Name, g.DesiredSize, g.Instance.Name,
			g.Instance.OnDemandUSDPerHour, float64(g.DesiredSize)*g.Instance.OnDemandUSDPerHour, g.MaxSize, float64(g.MaxSize)*g.Instance.OnDemandUSDPerHour))
	}
	lines = append(lines, fmt.Sprintf("EKS control plane $%.2f/h, NAT gateway $%.3f/h (data transfer not included)", shape.EKSControlPlaneUSDPerHour, shape.NATGatewayUSDPerHour))
	if worst, desc := karpenterWorst(p); desc != "" {
		lines = append(lines, fmt.Sprintf("Karpenter: $0/h while no GPU work waits; at most $%.4f/h (%s)", worst, desc))
	}
	session := hourly * b.Hours
	if session > b.USD {
		return result.Fail(name, lines, "$%.2f/h: a %.0f h session costs $%.2f, over the $%.2f budget", hourly, b.Hours, session, b.USD)
	}
	r := result.Pass(name, "$%.2f/h: a %.0f h session costs $%.2f, within the $%.2f budget", hourly, b.Hours, session, b.USD)
	r.Details = lines
	return r
}

// CostGuard is the check a run that creates real infrastructure makes before apply: its worst case — every node
// group at max_size, plus the control plane and NAT gateway, for the whole planned duration — must fit the budget
// (HARNESS_BUDGET for the nightly). It returns why not, naming the estimate and the budget.
func CostGuard(p *platform.Platform, b Budget) error {
	hourly := shape.EKSControlPlaneUSDPerHour + shape.NATGatewayUSDPerHour
	var groups []string
	for _, g := range p.Shape.Groups {
		hourly += float64(g.MaxSize) * g.Instance.OnDemandUSDPerHour
		groups = append(groups, fmt.Sprintf("%s %d x %s", g.Name, g.MaxSize, g.Instance.Name))
	}
	for _, np := range p.NodePools() {
		if np.GPU() && np.GPULimit == nil {
			return fmt.Errorf("refusing to apply: NodePool %s (%s) sets no limits.nvidia.com/gpu: Karpenter's GPU spend is unbounded", np.Name, np.Object.Source)
		}
	}
	extra := ""
	if k, desc := karpenterWorst(p); desc != "" {
		hourly += k
		extra = "; Karpenter: " + desc
	}
	if worst := hourly * b.Hours; worst > b.USD {
		return fmt.Errorf("refusing to apply: at most $%.2f/h (node groups at max size: %s%s; EKS control plane, NAT gateway) for %.1f h is $%.2f, over the $%.2f budget",
			hourly, strings.Join(groups, ", "), extra, b.Hours, worst, b.USD)
	}
	return nil
}

// karpenterWorst bounds what the GPU NodePools can add per hour: each node Karpenter launches for GPU work holds at
// least one GPU of the NodePool's limit, so at most limit nodes, each at most the dearest instance type the
// NodePool allows with 1..limit GPUs. A NodePool without a GPU limit is unbounded (karpenter/nodepools fails it;
// here it adds nothing and says so).
func karpenterWorst(p *platform.Platform) (float64, string) {
	total := 0.0
	var desc []string
	for _, np := range p.NodePools() {
		if !np.GPU() {
			continue
		}
		if np.GPULimit == nil {
			desc = append(desc, fmt.Sprintf("NodePool %s has no GPU limit: unbounded", np.Name))
			continue
		}
		dearest, name := 0.0, ""
		for _, t := range shape.InstanceTypes() {
			if np.Allows(t.Name) && t.GPUs > 0 && int64(t.GPUs) <= *np.GPULimit && t.OnDemandUSDPerHour > dearest {
				dearest, name = t.OnDemandUSDPerHour, t.Name
			}
		}
		if name == "" {
			continue
		}
		total += float64(*np.GPULimit) * dearest
		desc = append(desc, fmt.Sprintf("NodePool %s: %d x %s at most", np.Name, *np.GPULimit, name))
	}
	return total, strings.Join(desc, ", ")
}
