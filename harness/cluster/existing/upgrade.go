package existing

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
)

// EKSUpgradeAPI is the part of the EKS API an upgrade uses (the SDK's *eks.Client implements it).
type EKSUpgradeAPI interface {
	UpdateClusterVersion(ctx context.Context, in *eks.UpdateClusterVersionInput, opts ...func(*eks.Options)) (*eks.UpdateClusterVersionOutput, error)
	UpdateNodegroupVersion(ctx context.Context, in *eks.UpdateNodegroupVersionInput, opts ...func(*eks.Options)) (*eks.UpdateNodegroupVersionOutput, error)
	DescribeUpdate(ctx context.Context, in *eks.DescribeUpdateInput, opts ...func(*eks.Options)) (*eks.DescribeUpdateOutput, error)
}

// Upgrade is an in-place EKS minor upgrade, as the nightly's -upgrade-to stage runs it: the control plane first
// (UpdateClusterVersion), then every managed node group (UpdateNodegroupVersion: EKS surges new nodes, drains the
// old ones honouring PodDisruptionBudgets — Force deletes pods a budget protects — and removes them), each update
// waited for until Successful. A failed update is an error with EKS's own error codes (PodEvictionFailure, …).
type Upgrade struct {
	API     EKSUpgradeAPI
	Cluster string
	To      string
	Groups  []string
	Force   bool
	// Poll and Timeout bound each update's wait (EKS: a control plane takes ~10 min, a node group more).
	Poll, Timeout time.Duration
	Progress      func(format string, args ...any)
}

// Run upgrades the control plane, then the node groups in order.
func (u Upgrade) Run(ctx context.Context) error {
	if u.Poll == 0 {
		u.Poll = 30 * time.Second
	}
	if u.Timeout == 0 {
		u.Timeout = 90 * time.Minute
	}
	progress := u.Progress
	if progress == nil {
		progress = func(string, ...any) {}
	}
	out, err := u.API.UpdateClusterVersion(ctx, &eks.UpdateClusterVersionInput{Name: aws.String(u.Cluster), Version: aws.String(u.To)})
	if err != nil {
		return fmt.Errorf("update cluster %s to %s: %w", u.Cluster, u.To, err)
	}
	if out.Update == nil {
		return fmt.Errorf("update cluster %s to %s: EKS returned no update", u.Cluster, u.To)
	}
	progress("control plane of %s: update %s to %s started", u.Cluster, aws.ToString(out.Update.Id), u.To)
	if err := u.wait(ctx, out.Update, ""); err != nil {
		return fmt.Errorf("control plane of %s to %s: %w", u.Cluster, u.To, err)
	}
	for _, g := range u.Groups {
		out, err := u.API.UpdateNodegroupVersion(ctx, &eks.UpdateNodegroupVersionInput{ClusterName: aws.String(u.Cluster),
			NodegroupName: aws.String(g), Version: aws.String(u.To), Force: u.Force})
		if err != nil {
			return fmt.Errorf("update node group %s to %s: %w", g, u.To, err)
		}
		if out.Update == nil {
			return fmt.Errorf("update node group %s to %s: EKS returned no update", g, u.To)
		}
		progress("node group %s: update %s to %s started", g, aws.ToString(out.Update.Id), u.To)
		if err := u.wait(ctx, out.Update, g); err != nil {
			return fmt.Errorf("node group %s to %s: %w", g, u.To, err)
		}
	}
	return nil
}

func (u Upgrade) wait(ctx context.Context, up *ekstypes.Update, group string) error {
	if up == nil || up.Id == nil {
		return fmt.Errorf("EKS returned no update id")
	}
	ctx, cancel := context.WithTimeout(ctx, u.Timeout)
	defer cancel()
	in := &eks.DescribeUpdateInput{Name: aws.String(u.Cluster), UpdateId: up.Id}
	if group != "" {
		in.NodegroupName = aws.String(group)
	}
	for {
		out, err := u.API.DescribeUpdate(ctx, in)
		if err != nil {
			return fmt.Errorf("describe update %s: %w", aws.ToString(up.Id), err)
		}
		switch out.Update.Status {
		case ekstypes.UpdateStatusSuccessful:
			return nil
		case ekstypes.UpdateStatusFailed, ekstypes.UpdateStatusCancelled:
			var msgs []string
			for _, e := range out.Update.Errors {
				msgs = append(msgs, fmt.Sprintf("%s: %s %v", e.ErrorCode, aws.ToString(e.ErrorMessage), e.ResourceIds))
			}
			return fmt.Errorf("update %s %s: %v", aws.ToString(up.Id), out.Update.Status, msgs)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("update %s still %s: %w", aws.ToString(up.Id), out.Update.Status, ctx.Err())
		case <-time.After(u.Poll):
		}
	}
}
