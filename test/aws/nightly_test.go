//go:build aws

package aws

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/check"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cloud"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cloud/real"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cluster/existing"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/controllers/argocd"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/engine"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/infra"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/platform"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/test/nightly"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/test/testenv"
)

func getenv(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func TestNightlyRealEKS(t *testing.T) {
	account := os.Getenv("HARNESS_AWS_ACCOUNT")
	if account == "" {
		t.Fatal("HARNESS_AWS_ACCOUNT is required: the 12-digit account this run may spend in (the credentials are checked against it)")
	}
	region, env := getenv("AWS_REGION", cloud.DefaultRegion), getenv("HARNESS_ENV", "dev")
	root := testenv.Root()
	harnessBin, err := filepath.Abs(filepath.Join(root, "bin", "harness"))
	require.NoError(t, err)
	require.FileExists(t, harnessBin, "run `make build` first: the kubeconfig's token command is bin/harness eks-token")
	// Leave destroy its time: the run's own work stops the teardown's hour and 15 minutes before go test's
	// deadline (make test-aws: -timeout 240m), and destroy runs on a context of its own.
	deadline := time.Now().Add(165 * time.Minute)
	if d, ok := t.Deadline(); ok {
		deadline = nightly.WorkDeadline(d)
	}
	ctx, cancel := context.WithDeadline(t.Context(), deadline)
	defer cancel()

	p, err := platform.Load(root, env)
	require.NoError(t, err)
	// The cost guard, before anything exists: the worst case (node groups at max size) for the time this run may
	// take must fit HARNESS_BUDGET (USD).
	budget, err := strconv.ParseFloat(getenv("HARNESS_BUDGET", "10"), 64)
	require.NoError(t, err, "HARNESS_BUDGET")
	require.NoError(t, check.CostGuard(p, check.Budget{USD: budget, Hours: time.Until(deadline).Hours() + nightly.TeardownBudget.Hours()}))
	backend, err := real.New(real.Config{Account: account, Region: region})
	require.NoError(t, err)
	// Preflight, before anything is created: zones from EC2 (EKS-supported, the nodes' zone offering the node
	// types), the vCPU quotas the plan may use, the commit Argo CD will fetch pushed to the repository it fetches.
	awsCfg, err := backend.Config(ctx)
	require.NoError(t, err)
	zones, err := nightly.Preflight(ctx, awsCfg, p, root, platform.RepoURL, nightly.CommitUnderTest(t, root))
	require.NoError(t, err)
	runID := fmt.Sprintf("nightly-%d", time.Now().Unix())
	// The apply tier, as `harness apply --aws aws` runs it: a temporary copy (outside t.TempDir, so its state
	// survives a failed destroy), allowed_account_ids = [HARNESS_AWS_ACCOUNT], retries on transient errors, every
	// resource tagged with this run's run-id and an expires-at `harness reap` honours if all else fails.
	up, td, out, err := infra.Bring(ctx, infra.TierOptions{Platform: p, Cloud: backend, AllowedAccount: account, Progress: os.Stdout,
		Vars: map[string]any{
			"project":            "mlops-nightly",
			"region":             region,
			"availability_zones": zones,
			"run_id":             runID,
			"expires_at":         time.Now().Add(6 * time.Hour).UTC().Format(time.RFC3339),
		}})
	// Registered before anything can fail: t.Cleanup runs when a subtest panics or a require fails (the parent's
	// defers would not). Destroy gets its own hour; then nothing may carry the run's tag.
	nightly.Teardown(t, td, backend, runID)
	require.NoError(t, err, "apply, outputs, an empty second plan")
	res := check.ApplyTier(out)
	require.Equal(t, result.Passed, res.Status, "terraform or tofu and the hashicorp/aws provider must be installable for the nightly tier: %s", res.Message)
	// The GitOps side gets what Terraform output (the apply tier compared it with what the static checks judged),
	// as the root Application does after the runbook's bridge step.
	pa, err := platform.LoadWith(root, env, up.Bridge)
	require.NoError(t, err)
	applied := pa.WithApplied(up.Shape)
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, existing.WriteEKSKubeconfig(kubeconfig, existing.EKS{Name: applied.Shape.ClusterName,
		Endpoint: fmt.Sprint(up.Outputs["cluster_endpoint"]), CAData: fmt.Sprint(up.Outputs["cluster_certificate_authority_data"]),
		Region: region, Exec: []string{harnessBin, "eks-token"}}))
	c, err := existing.New(existing.Config{Shape: applied.Shape, Kubeconfig: kubeconfig})
	require.NoError(t, err)
	require.NoError(t, c.Start(ctx))
	// The flow make test runs every day against an embedded cluster and moto (test/local/nightly_test.go).
	tg := nightly.Target{Platform: applied, Up: up, Cluster: c,
		ArgoCD: engine.ArgoCD{InstallManifest: argocd.ReleaseManifest, Timeout: 30 * time.Minute},
		Charts: engine.Charts{Fetch: true, Cache: t.TempDir()},
		Poll:   15 * time.Second, NodeTimeout: 15 * time.Minute}
	nightly.Run(t, ctx, tg)
	// Optional: the EKS upgrade `harness rehearse` rehearses, done for real (HARNESS_UPGRADE_TO=1.NN or -upgrade-to).
	if *upgradeTo != "" {
		nightly.Upgrade(t, ctx, tg, *upgradeTo)
	}
}

var upgradeTo = flag.String("upgrade-to", os.Getenv("HARNESS_UPGRADE_TO"), "after the checks, upgrade EKS in place to this minor (control plane, then node groups) and check again")
