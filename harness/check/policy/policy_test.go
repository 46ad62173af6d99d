package policy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/deploy"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/platform"
)

var today = time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)

func findings(t *testing.T, dir, env string) map[string][]string {
	t.Helper()
	p, err := platform.LoadTerraform(dir, env)
	require.NoError(t, err)
	fs, err := Policies(p, today)
	require.NoError(t, err)
	out := map[string][]string{}
	for _, f := range fs {
		out[f.Policy] = f.Violations
	}
	return out
}

func TestPoliciesPassOnTheRealTerraform(t *testing.T) {
	t.Parallel()
	for _, env := range []string{"local", "dev", "prod"} {
		for name, v := range findings(t, "../../../terraform", env) {
			assert.Empty(t, v, "%s/%s", env, name)
		}
	}
}

func TestEachPolicyFailsWithFileAndLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		policy, file, old, new, want string
	}{
		{"single-az", "main.tf", "node_subnet_ids              = [module.vpc.private_subnet_ids[0]]",
			"node_subnet_ids              = module.vpc.private_subnet_ids", "main.tf:51: node_subnet_ids = module.vpc.private_subnet_ids"},
		{"gpu-node-group", "variables.tf", `        effect = "NO_SCHEDULE"`, `        effect = "PREFER_NO_SCHEDULE"`,
			"variables.tf:151: node_groups.gpu: GPU group lacks the taint nvidia.com/gpu:NoSchedule"},
		{"gpu-node-group", "variables.tf", "      min_size       = 0\n      max_size       = 3\n      desired_size   = 1\n      disk_size      = 100",
			"      min_size       = 1\n      max_size       = 3\n      desired_size   = 1\n      disk_size      = 100", "node_groups.gpu: min_size 1, want 0"},
		{"gpu-node-group", "variables.tf", "        \"nvidia.com/gpu.present\" = \"true\"\n", "",
			"node_groups.gpu: GPU group lacks the label nvidia.com/gpu.present=true, which the NVIDIA device plugin's DaemonSet requires"},
		{"imdsv2", "modules/eks/node_groups.tf", `http_tokens                 = "required"`, `http_tokens                 = "optional"`,
			`node_groups.tf:33: http_tokens = "optional", want "required" (IMDSv2)`},
		{"encryption", "modules/eks/node_groups.tf", "      encrypted             = true", "      encrypted             = false",
			"node_groups.tf:42: encrypted = false, want true (EBS)"},
		{"encryption", "modules/eks/main.tf", `    resources = ["secrets"]`, `    resources = []`,
			"main.tf:59: EKS cluster without encryption_config for secrets"},
		{"s3-public-access", "storage.tf", "  restrict_public_buckets = true", "  restrict_public_buckets = false",
			"storage.tf:36: restrict_public_buckets = false, want true"},
		{"tags", "modules/vpc/main.tf", "  vpc_id = aws_vpc.this.id\n  tags   = merge(var.tags, { Name = var.name })\n", "  vpc_id = aws_vpc.this.id\n",
			"modules/vpc/main.tf:15: aws_internet_gateway.this has no tags"},
		{"tags", "main.tf", "      project       = var.project\n", "",
			`main.tf:15: local.tags lacks the required tag "project"`},
		{"tags", "main.tf", `      "cost-center" = var.cost_center`, `      "cost_centre" = var.cost_center`,
			`main.tf:15: local.tags lacks the required tag "cost-center"`},
		{"tags", "main.tf", "  tags = merge(\n", "  tags = mergeish(\n",
			"main.tf:15: local.tags uses mergeish(); only merge() of object literals can be read"},
		{"variables", "env/local.tfvars", `owner       = "developer"`, "owner       = \"developer\"\nregion      = \"eu-west-1\"",
			"var.availability_zones fails its validation for this environment: availability_zones must be zones of var.region"},
		{"cluster-version", "variables.tf", `default     = "1.35"`, `default     = "1.31"`,
			"terraform/variables.tf:89: cluster_version 1.31 left EKS standard support on 2025-11-26"},
		// The variable's validation is evaluated as at plan, for every version of the calendar.
		{"cluster-version", "variables.tf", `condition     = timecmp(plantimestamp(), lookup(local.eks_standard_support_ends, var.cluster_version, "1970-01-01T00:00:00Z")) < 0`,
			`condition     = can(regex("^1\\.[0-9]+$", var.cluster_version)) && tonumber(split(".", var.cluster_version)[1]) >= 29`,
			"the validation of cluster_version accepts 1.31, which left EKS standard support on 2025-11-26"},
		{"cluster-version", "versions.tf", `    "1.35" = "2027-03-27T00:00:00Z"`, `    "1.35" = "2026-01-01T00:00:00Z"`,
			"cluster_version 1.35 left EKS standard support on 2026-01-01"},
		{"cluster-version", "modules/eks/main.tf", "  upgrade_policy {\n    support_type = \"STANDARD\"\n  }\n", "",
			"aws_eks_cluster.this has no upgrade_policy"},
		{"node-iam", "modules/eks/irsa.tf", `policy/AmazonEKS_CNI_Policy"`, `policy/AmazonEKSVPCResourceController"`,
			"the vpc-cni add-on's role aws_iam_role.vpc_cni lacks AmazonEKS_CNI_Policy"},
		{"node-iam", "modules/eks/addons.tf", "  service_account_role_arn    = aws_iam_role.vpc_cni.arn\n", "",
			"the vpc-cni add-on has no role of its own"},
		{"node-iam", "modules/eks/addons.tf", "  depends_on = [aws_iam_role_policy_attachment.vpc_cni]", "  depends_on = [aws_eks_node_group.this]",
			"the vpc-cni add-on waits for the node groups"},
		{"node-iam", "modules/eks/node_groups.tf", `"AmazonEKSWorkerNodePolicy", `, "",
			"lacks AmazonEKSWorkerNodePolicy"},
		{"fmt", "outputs.tf", `  value       = module.eks.cluster_name`, `  value = module.eks.cluster_name`,
			"outputs.tf:1: not formatted"},
	}
	for _, tc := range tests {
		t.Run(tc.policy+" "+tc.file, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "terraform")
			require.NoError(t, os.CopyFS(dir, os.DirFS("../../../terraform")))
			p := filepath.Join(dir, tc.file)
			data, err := os.ReadFile(p)
			require.NoError(t, err)
			require.Contains(t, string(data), tc.old, "the test's anchor moved")
			require.NoError(t, os.WriteFile(p, []byte(strings.Replace(string(data), tc.old, tc.new, 1)), 0o644))
			got := findings(t, dir, "local")
			require.NotEmpty(t, got[tc.policy], "policy %s did not fire", tc.policy)
			assert.Contains(t, strings.Join(got[tc.policy], "\n"), tc.want)
		})
	}
}

// TestNodeIAMFailsOnTheOriginalAddons: the add-ons as they were before the fix (vpc-cni in the for_each with no
// role of its own, after the node groups) and a node role without the CNI policy: nodes would stay NotReady.
func TestNodeIAMFailsOnTheOriginalAddons(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "terraform")
	require.NoError(t, os.CopyFS(dir, os.DirFS("../../../terraform")))
	original := `resource "aws_eks_addon" "this" {
  for_each = toset(["vpc-cni", "coredns", "kube-proxy", "aws-ebs-csi-driver"])

  cluster_name                = aws_eks_cluster.this.name
  addon_name                  = each.value
  resolve_conflicts_on_create = "OVERWRITE"
  resolve_conflicts_on_update = "PRESERVE"
  service_account_role_arn    = each.value == "aws-ebs-csi-driver" ? aws_iam_role.ebs_csi.arn : null
  tags                        = var.tags

  depends_on = [aws_eks_node_group.this]
}
`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "modules/eks/addons.tf"), []byte(original), 0o644))
	ng := filepath.Join(dir, "modules/eks/node_groups.tf")
	data, err := os.ReadFile(ng)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(ng, []byte(strings.Replace(string(data), ", aws_eks_addon.vpc_cni]", "]", 1)), 0o644))
	got := strings.Join(findings(t, dir, "local")["node-iam"], "\n")
	assert.Contains(t, got, "modules/eks/addons.tf:1: the vpc-cni add-on has no role of its own (service_account_role_arn = each.value == \"aws-ebs-csi-driver\" ? aws_iam_role.ebs_csi.arn : null) and the node role lacks AmazonEKS_CNI_Policy")
}

// TestNetworkPolicyNeedsTheCNIAgent: with NetworkPolicies among the platform's objects, a vpc-cni add-on without
// enableNetworkPolicy fails naming file, line and a policy; with it (the real Terraform) it passes; without
// NetworkPolicies nothing is asked.
func TestNetworkPolicyNeedsTheCNIAgent(t *testing.T) {
	t.Parallel()
	np := deploy.Object{Source: "helm/platform-config/templates/networkpolicies.yaml", Unstructured: &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": map[string]any{"name": "default-deny", "namespace": "ml-training"}}}}
	judge := func(dir string, objs ...deploy.Object) []string {
		p, err := platform.LoadTerraform(dir, "local")
		require.NoError(t, err)
		p.Objects = objs
		fs, err := Policies(p, today)
		require.NoError(t, err)
		for _, f := range fs {
			if f.Policy == "network-policy" {
				return f.Violations
			}
		}
		t.Fatal("no network-policy finding")
		return nil
	}
	assert.Empty(t, judge("../../../terraform", np), "the real add-on enables the agent")
	dir := filepath.Join(t.TempDir(), "terraform")
	require.NoError(t, os.CopyFS(dir, os.DirFS("../../../terraform")))
	f := filepath.Join(dir, "modules/eks/addons.tf")
	data, err := os.ReadFile(f)
	require.NoError(t, err)
	line := "  configuration_values = jsonencode({ enableNetworkPolicy = \"true\" })\n"
	require.Contains(t, string(data), line, "the test's anchor moved")
	require.NoError(t, os.WriteFile(f, []byte(strings.Replace(string(data), line, "", 1)), 0o644))
	got := judge(dir, np)
	require.Len(t, got, 1)
	assert.Contains(t, got[0], "modules/eks/addons.tf:13: the vpc-cni add-on does not set enableNetworkPolicy")
	assert.Contains(t, got[0], "ml-training/default-deny")
	assert.Empty(t, judge(dir), "no NetworkPolicies shipped: nothing to enforce")

	// The value as the add-on reads it (evaluated, then decoded): the JSON boolean (awslabs/cdk-eks-blueprints#851)
	// and a nested key (terraform-aws-modules/terraform-aws-eks#2878) fail; a JSON string literal, a YAML
	// string and a value built from a variable (judged by its text) pass.
	for _, c := range []struct{ expr, want string }{
		{`jsonencode({ enableNetworkPolicy = true })`, `enableNetworkPolicy to the boolean true: the add-on's configuration schema wants the string "true"`},
		{`jsonencode({ VpcCni = { properties = { enableNetworkPolicy = "true" } } })`, `enableNetworkPolicy is nested at VpcCni.properties.enableNetworkPolicy`},
		{`jsonencode({ enableNetworkPolicy = "false" })`, `sets enableNetworkPolicy "false"`},
		{`jsonencode({ env = { ENABLE_PREFIX_DELEGATION = "true" } })`, `does not set enableNetworkPolicy "true"`},
		{`"{\"enableNetworkPolicy\": \"true\"}"`, ""},
		{`"enableNetworkPolicy: \"true\"\n"`, ""}, // YAML, as EKS also takes it (dspace-group/dspace-reference-architecture-aws#265)
		{`"enableNetworkPolicy: true\n"`, `to the boolean true`},
		{`"enableNetworkPolicy: [\n"`, `neither a JSON nor a YAML object`},
		{`jsonencode(merge({ enableNetworkPolicy = "true" }, var.tags))`, ""},
	} {
		edited := strings.Replace(string(data), line, "  configuration_values = "+c.expr+"\n", 1)
		require.NoError(t, os.WriteFile(f, []byte(edited), 0o644))
		got := judge(dir, np)
		if c.want == "" {
			assert.Empty(t, got, "%s", c.expr)
			continue
		}
		if assert.Len(t, got, 1, "%s", c.expr) {
			assert.Contains(t, got[0], c.want, "%s", c.expr)
		}
	}
}
