package check

import (
	"fmt"

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
	session := hourly * b.Hours
	if session > b.USD {
		return result.Fail(name, lines, "$%.2f/h: a %.0f h session costs $%.2f, over the $%.2f budget", hourly, b.Hours, session, b.USD)
	}
	r := result.Pass(name, "$%.2f/h: a %.0f h session costs $%.2f, within the $%.2f budget", hourly, b.Hours, session, b.USD)
	r.Details = lines
	return r
}
