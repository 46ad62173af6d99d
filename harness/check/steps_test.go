package check

import (
	"errors"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/engine"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/platform"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
)

// TestStepsDeclareTheirPhaseInOrder: every step belongs to a known phase, and Steps runs the phases in order.
func TestStepsDeclareTheirPhaseInOrder(t *testing.T) {
	order := []Phase{PhaseStatic, PhaseScan, PhaseCRDs, PhaseDeploy, PhaseControllers, PhasePlacement, PhaseAcceptance, PhaseWorkflows, PhaseWorkload}
	last := -1
	for _, s := range Steps() {
		i := slices.Index(order, s.Phase)
		if !assert.GreaterOrEqual(t, i, 0, "step %v has no known phase (%q)", s.Names, s.Phase) {
			continue
		}
		assert.GreaterOrEqual(t, i, last, "step %v (%s) runs after a step of a later phase", s.Names, s.Phase)
		last = i
	}
	for _, p := range order {
		assert.NotEmpty(t, Select(Steps(), p), "no step of phase %s", p)
	}
	assert.Len(t, Except(Steps(), PhaseStatic), len(Steps())-len(Select(Steps(), PhaseStatic)))
	for _, s := range Select(Steps(), ClusterPhases...) {
		assert.True(t, s.NeedsCluster(), "%v", s.Names)
	}
}

// TestKarpenterStartJudged: the engine reports what it did; the verdict is check's.
func TestKarpenterStartJudged(t *testing.T) {
	assert.Equal(t, result.Failed, KarpenterStarted(engine.KarpenterStart{}, "us-east-1a", errors.New("start Karpenter: exited")).Status)
	assert.Equal(t, result.Skipped, KarpenterStarted(engine.KarpenterStart{Skipped: "no NodePool"}, "us-east-1a", nil).Status)
	r := KarpenterStarted(engine.KarpenterStart{Pools: 1, Changes: []string{"NodePool gpu: nodeClassRef -> KWOKNodeClass"}, InstanceTypes: 9}, "us-east-1a", nil)
	assert.Equal(t, result.Passed, r.Status)
	assert.Contains(t, r.Details, "NodePool gpu: nodeClassRef -> KWOKNodeClass")
}

// TestKarpenterAWSJudgedByItsConditions: with the AWS provider, Karpenter's own conditions are the verdict — every
// EC2NodeClass and NodePool Ready passes; one condition False fails in Karpenter's words; a subnet Karpenter
// resolved outside the node zone fails even when Karpenter itself is content.
func TestKarpenterAWSJudgedByItsConditions(t *testing.T) {
	ready := []string{"AMIsReady=True", "Ready=True", "SubnetsReady=True"}
	ok := engine.KarpenterStart{Provider: engine.ProviderAWS, Pools: 1, AWSCreated: 44, NodeClasses: []engine.NodeClassVerdict{
		{Kind: "EC2NodeClass", Name: "gpu", Source: "ec2nodeclass.yaml", Ready: true, Conditions: ready, Zones: []string{"us-east-1a"}},
		{Kind: "NodePool", Name: "gpu", Source: "nodepool-gpu.yaml", Ready: true, Conditions: []string{"NodeClassReady=True", "NodeRegistrationHealthy=Unknown", "Ready=True"}}}}
	r := KarpenterStarted(ok, "us-east-1a", nil)
	assert.Equal(t, result.Passed, r.Status, r.Message)
	assert.Contains(t, r.Message, "judged EC2NodeClass gpu and 1 NodePool(s)")

	broken := ok
	broken.NodeClasses = []engine.NodeClassVerdict{{Kind: "EC2NodeClass", Name: "gpu", Source: "ec2nodeclass.yaml",
		Conditions: []string{"AMIsReady=True", "Ready=False (SubnetsReady=False)", "SubnetsReady=False (SubnetSelector did not match any Subnets)"}}}
	r = KarpenterStarted(broken, "us-east-1a", nil)
	assert.Equal(t, result.Failed, r.Status)
	assert.Contains(t, r.Message, "EC2NodeClass gpu not Ready by Karpenter's own conditions: SubnetsReady=False (SubnetSelector did not match any Subnets)")
	assert.NotContains(t, r.Message, "AMIsReady")

	wide := ok
	wide.NodeClasses = []engine.NodeClassVerdict{{Kind: "EC2NodeClass", Name: "gpu", Source: "ec2nodeclass.yaml", Ready: true, Conditions: ready, Zones: []string{"us-east-1a", "us-east-1b"}}}
	r = KarpenterStarted(wide, "us-east-1a", nil)
	assert.Equal(t, result.Failed, r.Status)
	assert.Contains(t, r.Message, "Karpenter resolved a subnet in us-east-1b")
}

// A platform Argo CD deploys, installed with Helm for want of Argo CD (harness check --deploy auto without
// bin/argocd), reports deploy/argocd skipped with the reason: the GitOps path was not judged. Asked for Helm
// (no reason given) or deployed through Argo CD, nothing is added.
func TestHelmInsteadOfArgoCDIsSkippedNotPassed(t *testing.T) {
	r := &Run{Env: &engine.Env{Platform: &platform.Platform{BootstrapFile: "helm/bootstrap.yaml"}}, HelmInstead: "Argo CD is not built (make argocd)"}
	rs := argoNotJudged(r)
	require.Len(t, rs, 1)
	assert.Equal(t, result.Skipped, rs[0].Status)
	assert.Equal(t, NameArgoCD, rs[0].Name)
	assert.Contains(t, rs[0].Message, "helm/bootstrap.yaml not judged (Argo CD is not built (make argocd))")

	r.HelmInstead = ""
	assert.Empty(t, argoNotJudged(r), "--deploy helm: the user's choice")
	r.HelmInstead, r.ArgoCD = "x", &engine.ArgoCD{}
	assert.Empty(t, argoNotJudged(r), "deployed through Argo CD")
}
