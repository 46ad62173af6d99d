package emulate

import (
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/zclconf/go-cty/cty"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/platform"
)

// TestEveryDeclaredTypeIsMapped lists the resource types terraform/ declares against the emulated apply's
// mappings: each one is created on the emulator or named with the reason, and no mapping is left for a type
// Terraform no longer declares. A new resource type in terraform/ fails here until the emulated apply knows it.
func TestEveryDeclaredTypeIsMapped(t *testing.T) {
	p, err := platform.LoadTerraform(repoRoot()+"/terraform", "local")
	require.NoError(t, err)
	types, err := Types(p)
	require.NoError(t, err)
	require.Contains(t, types, "aws_kms_key")
	for _, typ := range types {
		m, ok := mappings[typ]
		if assert.True(t, ok, "terraform/ declares %s: the emulated apply has no mapping for it (harness/infra/emulate/emulate.go)", typ) {
			assert.True(t, m.create != nil || m.why != "", "%s: neither created nor a reason", typ)
		}
	}
	for typ := range mappings {
		assert.Contains(t, types, typ, "a mapping for %s, which terraform/ does not declare", typ)
	}
}

// TestDeclaredExpandsCountAndForEach: the instances are Terraform's, per environment: a subnet per zone, a
// node group per entry of node_groups, Karpenter's resources only where it is on, names and tags evaluated.
func TestDeclaredExpandsCountAndForEach(t *testing.T) {
	p, err := platform.LoadTerraform(repoRoot()+"/terraform", "local")
	require.NoError(t, err)
	insts, err := Declared(p, map[string]cty.Value{"run_id": cty.StringVal("r1")})
	require.NoError(t, err)
	var addrs []string
	byAddr := map[string]Instance{}
	for _, i := range insts {
		addrs = append(addrs, i.Address)
		byAddr[i.Address] = i
		assert.NotEqual(t, "?", i.Key, "%s: count/for_each unknown before apply", i.Address)
	}
	for _, want := range []string{`module.vpc.aws_subnet.private[0]`, `module.vpc.aws_subnet.private[1]`, `module.eks.aws_eks_node_group.this["gpu"]`,
		`module.eks.aws_eks_node_group.this["system"]`, `module.eks.aws_cloudwatch_log_group.cluster`, `module.eks.aws_kms_key.secrets`, `aws_sqs_queue.karpenter[0]`} {
		assert.Contains(t, addrs, want)
	}
	assert.False(t, slices.ContainsFunc(addrs, func(a string) bool { return strings.HasPrefix(a, "aws_db_instance.") }), "RDS is off in local")
	lg := byAddr["module.eks.aws_cloudwatch_log_group.cluster"]
	assert.Equal(t, "/aws/eks/"+p.Shape.ClusterName+"/cluster", lg.String("name"))
	assert.Equal(t, "r1", lg.Tags("")["run-id"])
	node := byAddr["module.vpc.aws_subnet.private[0]"]
	assert.Equal(t, "10.40.128.0/20", node.String("cidr_block"))
	assert.Equal(t, "us-east-1a", node.String("availability_zone"))
	assert.Equal(t, p.Shape.ClusterName, node.Tags("")["karpenter.sh/discovery"], "the node subnet carries the discovery tag")
	assert.Empty(t, byAddr["module.vpc.aws_subnet.private[1]"].Tags("")["karpenter.sh/discovery"])
	lt := byAddr[`module.eks.aws_launch_template.node["gpu"]`]
	assert.Equal(t, p.Shape.ClusterName+"-gpu", lt.Tags("volume")["Name"], "the launch template's volume tags")
	assert.Equal(t, "module.vpc.aws_subnet.public[0]", refAddress(byAddr["module.vpc.aws_nat_gateway.this"], "subnet_id"))
	assert.Equal(t, `aws_cloudwatch_event_rule.karpenter["spot-interruption"]`, refAddress(byAddr[`aws_cloudwatch_event_target.karpenter["spot-interruption"]`], "rule"))
}

// repoRoot is the repository's root (test/testenv cannot be imported here: it imports the engine, which imports
// this package).
func repoRoot() string {
	_, here, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(here), "..", "..", "..")
}
