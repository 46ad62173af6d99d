package check

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/engine"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/infra"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
)

// TestDeployJudgesWhatTheEngineSaw: each thing the deploy can report becomes its verdict here — a chart that is
// not the one pinned, a failed install, objects at an unserved version and a sync Argo CD did not finish fail;
// a chart this machine lacks and kinds without CRDs are skips, never passes; only an install or a Synced and
// Healthy Application passes.
func TestDeployJudgesWhatTheEngineSaw(t *testing.T) {
	helm := &engine.HelmInstall{Release: "kuberay", Objects: 12, Dropped: []string{"ValidatingWebhookConfiguration x"}, Upstream: true, Workloads: 1}
	for _, tc := range []struct {
		name string
		in   engine.AppDeploy
		want result.Status
		says string
	}{
		{"refused", engine.AppDeploy{Refused: "chart kuberay-operator in /c is version 1.4.0, but the Application pins targetRevision 1.5.0"}, result.Failed, "pins targetRevision 1.5.0"},
		{"unavailable", engine.AppDeploy{Unavailable: "chart not fetched: flyte-binary"}, result.Skipped, "chart not fetched"},
		{"install failed", engine.AppDeploy{Err: errors.New("helm install x: timed out")}, result.Failed, "timed out"},
		{"no CRDs", engine.AppDeploy{Unserved: []string{"NodePool (karpenter.sh/v1)"}}, result.Skipped, "serves no NodePool"},
		{"wrong version", engine.AppDeploy{Path: "helm/karpenter-node-pools", WrongVersions: []string{"NodePool gpu (x): karpenter.sh is served at v1 only"}}, result.Failed, "helm/karpenter-node-pools use an API version"},
		{"installed", engine.AppDeploy{Helm: helm}, result.Passed, "helm install kuberay: 12 objects (1 admission webhook"},
		{"synced", engine.AppDeploy{Argo: &engine.ArgoSync{Version: "v3", Wave: 1, Done: true, Found: true}}, result.Passed, "Synced, Healthy"},
		{"synced, some not judged", engine.AppDeploy{Argo: &engine.ArgoSync{Version: "v3", Done: true, Found: true, Unjudged: []string{"Certificate a/b"}}}, result.Passed, "1 resource(s) whose health Argo CD does not judge here: Certificate a/b"},
		{"not synced", engine.AppDeploy{Argo: &engine.ArgoSync{Version: "v3", Wave: 2, Found: true, Summary: "sync OutOfSync, health Missing: ComparisonError: x"}}, result.Failed, "(wave 2): sync OutOfSync"},
		{"held by a wave", engine.AppDeploy{Argo: &engine.ArgoSync{Version: "v3", Wave: 3, Summary: "never created", HeldBy: []string{"kserve-crd (wave 1)"}}}, result.Failed, "waits for an earlier wave that is not Healthy: kserve-crd (wave 1)"},
		{"root timed out", engine.AppDeploy{Argo: &engine.ArgoSync{Version: "v3", Done: true, Found: true, Root: &engine.ArgoRoot{WaitErr: errors.New("not every Application Synced and Healthy within 4m0s"), LogTail: []string{"last line"}}}}, result.Failed, "within 4m0s"},
		{"nothing reported", engine.AppDeploy{}, result.Failed, "reported nothing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.Name, tc.in.Duration = "deploy/x", time.Second
			rs := Deploy(engine.Deployment{Apps: []engine.AppDeploy{tc.in}})
			require.Len(t, rs, 1)
			assert.Equal(t, tc.want, rs[0].Status, rs[0].Message)
			assert.Contains(t, rs[0].Message, tc.says)
			assert.Equal(t, "deploy/x", rs[0].Name)
			assert.Equal(t, time.Second, rs[0].Duration)
		})
	}
	t.Run("root timed out keeps the controller's last lines", func(t *testing.T) {
		rs := Deploy(engine.Deployment{Apps: []engine.AppDeploy{{Name: "deploy/platform-app", Argo: &engine.ArgoSync{Done: true, Found: true,
			Root: &engine.ArgoRoot{WaitErr: errors.New("deadline"), LogTail: []string{"level=error msg=boom"}}}}}})
		assert.Contains(t, rs[0].Details, "level=error msg=boom")
	})
	t.Run("Argo CD that could not run blames no Application", func(t *testing.T) {
		rs := Deploy(engine.Deployment{ArgoErr: errors.New("start Argo CD: exit status 1"), Apps: []engine.AppDeploy{{Name: "deploy/x", Helm: helm}}})
		require.Len(t, rs, 1)
		assert.Equal(t, "deploy/argocd", rs[0].Name)
		assert.Equal(t, result.Failed, rs[0].Status)
	})
}

// TestApplyTierIsSkippedNotPassedWhereItCannotRun: the apply tier that could not install Terraform's provider is a
// skip with the reason; it passes only when it applied.
func TestApplyTierIsSkippedNotPassedWhereItCannotRun(t *testing.T) {
	r := ApplyTier(infra.Outcome{Skipped: "hashicorp/aws provider not installable (registry unreachable)"})
	assert.Equal(t, result.Skipped, r.Status)
	assert.Contains(t, r.Message, "not installable")
	r = ApplyTier(infra.Outcome{Target: "http://127.0.0.1:5000", Outputs: []string{"cluster_name"}})
	assert.Equal(t, result.Passed, r.Status)
	assert.Contains(t, r.Message, "applied against http://127.0.0.1:5000")
}
