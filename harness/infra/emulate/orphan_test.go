package emulate

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cloud/moto"
)

// TestOrphanSubnetOfALostAnswer: a CreateSubnet the SDK retried after its first answer was lost is told its CIDR
// conflicts; the subnet that first attempt created (same VPC, same CIDR, held by no resource of the apply) is
// adopted. A conflict with a subnet another resource created, another CIDR or another error stays an error.
func TestOrphanSubnetOfALostAnswer(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	venv := filepath.Join(filepath.Dir(file), "..", "..", "..", ".venv")
	if _, err := os.Stat(filepath.Join(venv, "bin", "moto_server")); err != nil {
		t.Skip("skipped: moto not installed in .venv (make runtimes)")
	}
	m, err := moto.New(moto.Config{Venv: venv, LogFile: filepath.Join(t.TempDir(), "moto.log")})
	require.NoError(t, err)
	require.NoError(t, m.Start(t.Context()))
	t.Cleanup(func() { _ = m.Stop(t.Context()) })
	cfg, err := m.Config(t.Context())
	require.NoError(t, err)
	c := ec2.NewFromConfig(cfg)
	vpc, err := c.CreateVpc(t.Context(), &ec2.CreateVpcInput{CidrBlock: aws.String("10.40.0.0/16")})
	require.NoError(t, err)
	vpcID := aws.ToString(vpc.Vpc.VpcId)
	sub, err := c.CreateSubnet(t.Context(), &ec2.CreateSubnetInput{VpcId: aws.String(vpcID), CidrBlock: aws.String("10.40.0.0/20")})
	require.NoError(t, err)
	subID := aws.ToString(sub.Subnet.SubnetId)
	// What the retry is told.
	_, conflict := c.CreateSubnet(t.Context(), &ec2.CreateSubnetInput{VpcId: aws.String(vpcID), CidrBlock: aws.String("10.40.0.0/20")})
	require.Error(t, conflict)

	a := &applier{cfg: cfg, ec2: c, ids: map[string]string{"module.vpc.aws_vpc.this[0]": vpcID}}
	id, ok := a.orphanSubnet(t.Context(), vpcID, "10.40.0.0/20", conflict)
	assert.True(t, ok, "the lost attempt's subnet is adopted")
	assert.Equal(t, subID, id)

	_, ok = a.orphanSubnet(t.Context(), vpcID, "10.40.16.0/20", conflict)
	assert.False(t, ok, "no subnet with that CIDR: the conflict is an overlap, the configuration's")
	_, ok = a.orphanSubnet(t.Context(), vpcID, "10.40.0.0/20", &smithy.GenericAPIError{Code: "InvalidVpcID.NotFound"})
	assert.False(t, ok, "another error is not a lost answer")
	a.ids["module.vpc.aws_subnet.private[0]"] = subID
	_, ok = a.orphanSubnet(t.Context(), vpcID, "10.40.0.0/20", conflict)
	assert.False(t, ok, "two resources of the apply with one CIDR: a real conflict")
}
