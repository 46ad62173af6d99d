package static

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/check"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/check/wiring"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/controllers/karpenter"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/platform"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/test/testenv"
)

// TestKarpenterPassesOnTheRepository: on in local (Terraform, Application, NodePools agree), off in dev and prod.
func TestKarpenterPassesOnTheRepository(t *testing.T) {
	t.Parallel()
	for _, env := range envs {
		p := testenv.MustPlatform(t, testenv.Root(), env)
		r := check.KarpenterNodePools(p)
		assert.Equal(t, result.Passed, r.Status, "%s: %s %v", env, r.Message, r.Details)
		w := wiringResults(t, testenv.Root(), env)["wiring/karpenter"]
		assert.Equal(t, result.Passed, w.Status, "%s: %s %v", env, w.Message, w.Details)
		if env == "local" {
			require.Len(t, p.NodePools(), 1)
			assert.Contains(t, w.Message, "karpenter.sh/discovery=mlops-local")
		} else {
			assert.Empty(t, p.NodePools(), "Karpenter stays off in %s until tried on AWS", env)
		}
	}
}

// TestKarpenterChecksFailOnTheirDefect breaks, in copies of the repository, what the Karpenter option depends on,
// and expects the static check that guards it to name the defect.
func TestKarpenterChecksFailOnTheirDefect(t *testing.T) {
	t.Parallel()
	const values, nodepool, tf = "helm/karpenter-nodepools/values.yaml", "helm/karpenter-nodepools/templates/nodepool-gpu.yaml", "terraform/karpenter.tf"
	tests := []struct {
		name, check, file, old, new, want string
	}{
		// karpenter/nodepools: the NodePool against the GPU node group and the catalog.
		{"GPU NodePool without the GPU taint", check.NameNodePools, values,
			"  taints:\n    - key: nvidia.com/gpu\n      value: \"true\"\n      effect: NoSchedule\n", "  taints: []\n",
			"its nodes lack the taint nvidia.com/gpu=true:NoSchedule the GPU node group gpu carries"},
		{"GPU NodePool without the device plugin's label", check.NameNodePools, values,
			"    nvidia.com/gpu.present: \"true\"\n", "",
			"its nodes lack the label nvidia.com/gpu.present=true"},
		{"instance family outside the catalog", check.NameNodePools, values,
			"instanceFamilies: [g4dn]", "instanceFamilies: [g4dn, p5e]",
			`instance family "p5e" is not in the harness's instance catalog`},
		{"no GPU limit", check.NameNodePools, nodepool,
			"  limits:\n    nvidia.com/gpu: {{ .Values.gpu.gpuLimit | quote }}\n", "",
			"no limits.nvidia.com/gpu: Karpenter's GPU spend is unbounded"},
		{"spot GPU nodes beside an on-demand group", check.NameNodePools, values,
			"capacityTypes: [on-demand]", "capacityTypes: [on-demand, spot]",
			"capacity type spot, but the GPU node group gpu is ON_DEMAND"},
		{"a budget that never lets empty nodes go", check.NameNodePools, values,
			"    - nodes: \"100%\"\n      reasons: [Empty]\n", "    - nodes: \"0\"\n",
			`disruption.budgets[0] nodes "0" at all times: empty nodes can never be removed`},
		{"empty nodes never consolidated", check.NameNodePools, values,
			"consolidateAfter: 1m", "consolidateAfter: Never",
			"disruption.consolidateAfter Never"},
		// wiring/karpenter: Terraform, the bridge, the Application and the node class.
		{"Terraform on, controller Application off", "wiring/karpenter", "helm/values/local.yaml",
			"  karpenter:\n    enabled: true\n", "  karpenter:\n    enabled: false\n",
			"enable_karpenter = true, but no Karpenter Application is enabled"},
		{"chart at another version than the CRDs", "wiring/karpenter", "helm/platform-app/values.yaml",
			"      targetRevision: 1.15.0\n", "      targetRevision: 1.3.3\n",
			"pins chart karpenter 1.3.3, but the harness runs and generates the NodePool/NodeClaim CRDs from Karpenter " + karpenter.Version},
		{"interruption queue not the bridge's", "wiring/karpenter", "helm/platform-app/values.yaml",
			`interruptionQueue: "{{ .Values.global.aws.karpenter.interruptionQueue }}"`, `interruptionQueue: "karpenter-interruptions"`,
			`values settings.interruptionQueue = "karpenter-interruptions", want the GitOps Bridge's karpenter.interruptionQueue`},
		{"instance profile renamed in Terraform", "wiring/karpenter", tf,
			"  name = local.karpenter_node_role\n  role = aws_iam_role.karpenter_node[0].name", "  name = \"${local.name}-gpu-nodes\"\n  role = aws_iam_role.karpenter_node[0].name",
			`karpenter.instanceProfile "mlops-local-karpenter-node" names no aws_iam_instance_profile Terraform creates`},
		{"discovery tag on every private subnet", "wiring/karpenter", "terraform/modules/vpc/main.tf",
			"count.index == 0 ? var.node_subnet_tags : {}", "var.node_subnet_tags",
			"a subnet in us-east-1b is tagged karpenter.sh/discovery=mlops-local: Karpenter would launch nodes outside the node zone us-east-1a"},
		{"no spot interruption rule", "wiring/karpenter", tf,
			"    spot-interruption     = { source = [\"aws.ec2\"], detail-type = [\"EC2 Spot Instance Interruption Warning\"] }\n", "",
			`no aws_cloudwatch_event_rule matches "EC2 Spot Instance Interruption Warning"`},
		{"node role cannot be passed", "wiring/karpenter", tf,
			`actions   = ["iam:PassRole"]`, `actions   = ["iam:GetRole"]`,
			"the controller role mlops-local-karpenter's policy allows no iam:PassRole"},
		{"node role passed is the controller's own", "wiring/karpenter", tf,
			"resources = [aws_iam_role.karpenter_node[0].arn]", "resources = [aws_iam_role.karpenter_controller[0].arn]",
			"may pass no aws_iam_role.karpenter_node, the role of instance profile mlops-local-karpenter-node"},
		{"controller policy attached to the node role", "wiring/karpenter", tf,
			"  role   = aws_iam_role.karpenter_controller[0].id", "  role   = aws_iam_role.karpenter_node[0].id",
			"no aws_iam_role_policy attaches a policy document to the controller role mlops-local-karpenter"},
		{"node class with a role instead of Terraform's instance profile", "wiring/karpenter", "helm/karpenter-nodepools/templates/ec2nodeclass.yaml",
			"  instanceProfile: {{", "  role: {{",
			`sets role "mlops-local-karpenter-node": Karpenter would create and manage instance profiles`},
		{"node class without the platform's tags", "wiring/karpenter", "helm/karpenter-nodepools/templates/ec2nodeclass.yaml",
			"  {{- with .Values.aws.tags }}", "  {{- with .Values.aws.noTags }}",
			"does not tag its instances with the platform's cost-center, environment, owner, project"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			root := testenv.CopyRepo(t)
			testenv.Edit(t, root, tc.file, tc.old, tc.new)
			var got result.Result
			if tc.check == check.NameNodePools {
				got = check.KarpenterNodePools(testenv.MustPlatform(t, root, "local"))
			} else {
				got = wiringResults(t, root, "local")[tc.check]
			}
			require.Equal(t, result.Failed, got.Status, "%s did not fire: %s", tc.check, got.Message)
			assert.Contains(t, strings.Join(got.Details, "\n"), tc.want)
		})
	}
}

// TestKarpenterNeedsTerraformsSide: the Karpenter Applications on while Terraform's enable_karpenter is off is
// refused when the platform loads, naming the template, the line and the value (the controller would have no role
// and no queue, the node class no instance profile).
func TestKarpenterNeedsTerraformsSide(t *testing.T) {
	t.Parallel()
	root := testenv.CopyRepo(t)
	testenv.Edit(t, root, "terraform/env/local.tfvars", "enable_karpenter = true", "enable_karpenter = false")
	_, err := platform.Load(root, "local")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "platform-app/templates/applications.yaml:")
	assert.Contains(t, err.Error(), "global.aws.karpenter.controllerRole is empty: applications.karpenter is enabled but Terraform's enable_karpenter is off")

	// Without the controller, the node class still needs Terraform's instance profile.
	testenv.Edit(t, root, "helm/values/local.yaml", "  karpenter:\n    enabled: true\n", "  karpenter:\n    enabled: false\n")
	_, err = platform.Load(root, "local")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "karpenter-nodepools/templates/ec2nodeclass.yaml:")
	assert.Contains(t, err.Error(), "aws.karpenter.instanceProfile is required (enable_karpenter = true in the environment's tfvars)")
}

// TestCostGuardCountsKarpenter: the cost guard's worst case includes the GPU NodePool (limit x the dearest type it
// allows); local fits the nightly's budget only because the NodePool is sized as the GPU group, and a GPU NodePool
// without a limit is refused outright.
func TestCostGuardCountsKarpenter(t *testing.T) {
	t.Parallel()
	budget := check.Budget{USD: 10, Hours: 3}
	require.NoError(t, check.CostGuard(testenv.MustPlatform(t, testenv.Root(), "local"), budget))

	bigger := testenv.CopyRepo(t)
	testenv.Edit(t, bigger, "helm/karpenter-nodepools/values.yaml", "instanceSizes: [xlarge]", "instanceSizes: [xlarge, 8xlarge]")
	err := check.CostGuard(testenv.MustPlatform(t, bigger, "local"), budget)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Karpenter: NodePool gpu: 2 x g4dn.8xlarge at most")

	unbounded := testenv.CopyRepo(t)
	testenv.Edit(t, unbounded, "helm/karpenter-nodepools/templates/nodepool-gpu.yaml", "  limits:\n    nvidia.com/gpu: {{ .Values.gpu.gpuLimit | quote }}\n", "")
	err = check.CostGuard(testenv.MustPlatform(t, unbounded, "local"), budget)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "NodePool gpu (")
	assert.Contains(t, err.Error(), "sets no limits.nvidia.com/gpu: Karpenter's GPU spend is unbounded")
}

// TestKarpenterRulesLeftToTheAWSProvider: when the run's karpenter step runs the real AWS provider, wiring/karpenter
// no longer judges how the node class resolves (discovery tags, selectors, zones: the provider's own conditions do,
// test/local TestCheckJudgesKarpenterByTheAWSProvider) and says so; the rules the provider cannot judge here (IAM,
// the role-instead-of-profile choice) still fire.
func TestKarpenterRulesLeftToTheAWSProvider(t *testing.T) {
	t.Parallel()
	withProvider := func(root string) result.Result {
		for _, r := range wiring.Check(wiring.Input{Platform: testenv.MustPlatform(t, root, "local"), Now: time.Now(), KarpenterAWS: true}) {
			if r.Name == "wiring/karpenter" {
				return r
			}
		}
		t.Fatal("no wiring/karpenter result")
		return result.Result{}
	}
	root := testenv.CopyRepo(t)
	testenv.Edit(t, root, "terraform/modules/vpc/main.tf", "count.index == 0 ? var.node_subnet_tags : {}", "var.node_subnet_tags")
	r := withProvider(root)
	assert.Equal(t, result.Passed, r.Status, "%s %v", r.Message, r.Details)
	assert.Contains(t, r.Message, "judged by the Karpenter AWS provider (the karpenter step)")
	assert.Equal(t, result.Failed, wiringResults(t, root, "local")["wiring/karpenter"].Status, "without the provider the rule still fires")

	root = testenv.CopyRepo(t)
	testenv.Edit(t, root, "helm/karpenter-nodepools/templates/ec2nodeclass.yaml", "  instanceProfile: {{", "  role: {{")
	r = withProvider(root)
	require.Equal(t, result.Failed, r.Status, r.Message)
	assert.Contains(t, strings.Join(r.Details, "\n"), "a hand-written rule: moto lets the provider create a profile whatever the policy")
}
