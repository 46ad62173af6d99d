package existing

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeEKS records the calls and reports each update InProgress once, then the status the test gives it.
type fakeEKS struct {
	calls  []string
	final  map[string]ekstypes.UpdateStatus // by node group ("" for the control plane)
	errors map[string][]ekstypes.ErrorDetail
	seen   map[string]int
}

func (f *fakeEKS) UpdateClusterVersion(_ context.Context, in *eks.UpdateClusterVersionInput, _ ...func(*eks.Options)) (*eks.UpdateClusterVersionOutput, error) {
	f.calls = append(f.calls, "cluster "+aws.ToString(in.Name)+" -> "+aws.ToString(in.Version))
	return &eks.UpdateClusterVersionOutput{Update: &ekstypes.Update{Id: aws.String("u-cp")}}, nil
}

func (f *fakeEKS) UpdateNodegroupVersion(_ context.Context, in *eks.UpdateNodegroupVersionInput, _ ...func(*eks.Options)) (*eks.UpdateNodegroupVersionOutput, error) {
	s := "nodegroup " + aws.ToString(in.NodegroupName) + " -> " + aws.ToString(in.Version)
	if in.Force {
		s += " (force)"
	}
	f.calls = append(f.calls, s)
	return &eks.UpdateNodegroupVersionOutput{Update: &ekstypes.Update{Id: aws.String("u-" + aws.ToString(in.NodegroupName))}}, nil
}

func (f *fakeEKS) DescribeUpdate(_ context.Context, in *eks.DescribeUpdateInput, _ ...func(*eks.Options)) (*eks.DescribeUpdateOutput, error) {
	g := aws.ToString(in.NodegroupName)
	f.seen[g]++
	if f.seen[g] == 1 {
		return &eks.DescribeUpdateOutput{Update: &ekstypes.Update{Id: in.UpdateId, Status: ekstypes.UpdateStatusInProgress}}, nil
	}
	st := f.final[g]
	if st == "" {
		st = ekstypes.UpdateStatusSuccessful
	}
	return &eks.DescribeUpdateOutput{Update: &ekstypes.Update{Id: in.UpdateId, Status: st, Errors: f.errors[g]}}, nil
}

// TestUpgradeControlPlaneThenNodeGroups: the control plane is updated and waited for before any node group, the
// node groups in order; a node group update that EKS fails with PodEvictionFailure is an error carrying EKS's
// code and the resources it names.
func TestUpgradeControlPlaneThenNodeGroups(t *testing.T) {
	f := &fakeEKS{seen: map[string]int{}}
	u := Upgrade{API: f, Cluster: "mlops-nightly", To: "1.36", Groups: []string{"system", "gpu"}, Poll: time.Millisecond}
	require.NoError(t, u.Run(context.Background()))
	assert.Equal(t, []string{"cluster mlops-nightly -> 1.36", "nodegroup system -> 1.36", "nodegroup gpu -> 1.36"}, f.calls)

	f = &fakeEKS{seen: map[string]int{}, final: map[string]ekstypes.UpdateStatus{"gpu": ekstypes.UpdateStatusFailed},
		errors: map[string][]ekstypes.ErrorDetail{"gpu": {{ErrorCode: ekstypes.ErrorCodePodEvictionFailure,
			ErrorMessage: aws.String("Reached max retries while trying to evict pods from nodes in node group gpu"), ResourceIds: []string{"ip-10-0-1-7.ec2.internal"}}}}}
	u.API = f
	err := u.Run(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "node group gpu to 1.36")
	assert.Contains(t, err.Error(), "PodEvictionFailure")
	assert.Contains(t, err.Error(), "ip-10-0-1-7.ec2.internal")

	f = &fakeEKS{seen: map[string]int{}}
	u.API, u.Force = f, true
	require.NoError(t, u.Run(context.Background()))
	assert.Contains(t, f.calls, "nodegroup gpu -> 1.36 (force)")
}
