package check

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cluster"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/engine"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/internal/proc"
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

// emulatedOnly is a cluster for Execute's bookkeeping alone (no step here reaches it).
type emulatedOnly struct{ cluster.Cluster }

func (emulatedOnly) Emulated() bool { return true }

// The scan runs beside the cluster steps after the deploy: they start before it ends, it starts once the deploy has
// ended, and its result still stands where the step stands (the report's order does not depend on timing). The
// breaking case: run inline, the steps after the deploy would start only after the scan.
func TestScanRunsBesideTheClusterSteps(t *testing.T) {
	scanDone := make(chan struct{})
	var deployStartedFirst bool // the step after the deploy, really
	var deployed, scanStarted time.Time
	steps := []Step{
		{Names: []string{"values"}, Phase: PhaseStatic, Run: one(func(context.Context, *Run) result.Result { return result.Pass("values", "") })},
		{Names: []string{"policy/checkov"}, Phase: PhaseScan, Run: func(ctx context.Context, r *Run) ([]result.Result, error) {
			return r.beside(ctx, func(context.Context, *Run) []result.Result {
				scanStarted = time.Now()
				time.Sleep(200 * time.Millisecond)
				close(scanDone)
				return []result.Result{result.Pass("policy/checkov", "")}
			})
		}},
		{Names: []string{"deploy"}, Phase: PhaseDeploy, Run: one(func(context.Context, *Run) result.Result {
			deployed = time.Now()
			return result.Pass("deploy/x", "")
		})},
		{Names: []string{"karpenter"}, Phase: PhaseControllers, Run: one(func(context.Context, *Run) result.Result {
			select {
			case <-scanDone:
			default:
				deployStartedFirst = true
			}
			return result.Pass("karpenter", "")
		})},
	}
	var seen []string
	r := &Run{Env: &engine.Env{Platform: &platform.Platform{}, Cluster: emulatedOnly{}}}
	rs, err := Execute(context.Background(), r, steps, func(res result.Result) { seen = append(seen, res.Name) })
	require.NoError(t, err)
	assert.True(t, deployStartedFirst, "the steps after the deploy waited for the scan")
	assert.False(t, scanStarted.Before(deployed), "the scan started before the deploy had ended")
	var names []string
	for _, res := range rs {
		names = append(names, res.Name)
	}
	assert.Equal(t, []string{"values", "policy/checkov", "deploy/x", "karpenter"}, names)
	assert.ElementsMatch(t, names, seen, "every result reported once")

	// Without a cluster the scan runs at once, in its place.
	deployStartedFirst, scanDone = false, make(chan struct{})
	rs, err = Execute(context.Background(), &Run{Env: &engine.Env{Platform: &platform.Platform{}}}, steps[:2], nil)
	require.NoError(t, err)
	assert.Len(t, rs, 2)
	select {
	case <-scanDone:
	default:
		t.Fatal("the scan had not ended when Execute returned")
	}
}

// A death stops the run: the scan beside it — not yet started (death during the deploy) or cut short by the
// cancelled context (after it) — is reported not judged, like the steps not reached, never as its own failure.
// The breaking case (found by TestDeathOfASupervisedProcessEndsTheRun): the scan's "context canceled" failed
// policy/checkov beside the death.
func TestDeathDropsTheScanBesideIt(t *testing.T) {
	for _, during := range []Phase{PhaseDeploy, PhaseControllers} {
		t.Run(string(during), func(t *testing.T) {
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			die := func(context.Context, *Run) result.Result {
				cancel(&proc.Death{Name: "control plane", Pid: 1, Status: "signal: killed"})
				return result.Fail("consequence", nil, "the API server went away")
			}
			pass := func(name string) func(context.Context, *Run) result.Result {
				return func(context.Context, *Run) result.Result { return result.Pass(name, "") }
			}
			steps := []Step{
				{Names: []string{"policy/checkov"}, Phase: PhaseScan, Run: func(ctx context.Context, r *Run) ([]result.Result, error) {
					return r.beside(ctx, func(ctx context.Context, _ *Run) []result.Result {
						<-ctx.Done()
						return []result.Result{result.Fail("policy/checkov", nil, "checkov: %v", ctx.Err())}
					})
				}},
				{Names: []string{"deploy"}, Phase: PhaseDeploy, Run: one(pass("deploy/x"))},
				{Names: []string{"karpenter"}, Phase: PhaseControllers, Run: one(pass("karpenter"))},
				{Names: []string{"gpu-isolation"}, Phase: PhasePlacement, Run: one(pass("gpu-isolation"))},
			}
			for i := range steps {
				if steps[i].Phase == during {
					steps[i].Run = one(die)
				}
			}
			r := &Run{Env: &engine.Env{Platform: &platform.Platform{}, Cluster: emulatedOnly{}}}
			rs, err := Execute(ctx, r, steps, nil)
			require.NoError(t, err)
			byName := map[string]result.Result{}
			var failed []string
			for _, res := range rs {
				byName[res.Name] = res
				if res.Status == result.Failed {
					failed = append(failed, res.Name)
				}
			}
			assert.Equal(t, []string{NameProcess}, failed, "only the death fails")
			assert.Equal(t, result.Skipped, byName["policy/checkov"].Status)
			assert.Contains(t, byName["policy/checkov"].Message, "control plane died")
		})
	}
}
