package local

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/check"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cloud/moto"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cloud/reap"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cluster/existing"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/engine"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/infra"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/infra/emulate"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/platform"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/test/nightly"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/test/testenv"
)

// nightlyVars are the variables the nightly applies with (test/aws), for a run id.
func nightlyVars(runID string) map[string]any {
	return map[string]any{"project": "mlops-nightly", "region": "us-east-1", "availability_zones": []string{"us-east-1a", "us-east-1b"},
		"run_id": runID, "expires_at": time.Now().Add(6 * time.Hour).UTC().Format(time.RFC3339)}
}

func newMoto(t *testing.T) *moto.Moto {
	t.Helper()
	m, err := moto.New(moto.Config{Venv: filepath.Join(testenv.Root(), ".venv"), LogFile: filepath.Join(t.TempDir(), "moto.log")})
	require.NoError(t, err)
	return m
}

// bringOnMoto is the nightly's apply on moto: the apply tier itself (which skips here, where the Terraform AWS
// provider cannot be installed, with its skip line), and in its place the same infrastructure created on moto
// through the SDK. Its teardown (destroy, then the leak scan by run-id) is registered with t.Cleanup as the
// nightly registers it.
func bringOnMoto(t *testing.T, ctx context.Context, p *platform.Platform, runID string) *infra.Up {
	t.Helper()
	m := newMoto(t)
	up, td, out, err := infra.Bring(ctx, infra.TierOptions{Platform: p, Cloud: m, Vars: nightlyVars(runID), Progress: os.Stdout})
	nightly.Teardown(t, td, m, runID)
	require.NoError(t, err)
	if up != nil { // a machine with the provider: the nightly's apply itself, against moto
		return up
	}
	res := check.ApplyTier(out)
	require.Equal(t, result.Skipped, res.Status, "%s", res.Message)
	t.Logf("%s: skipped: %s — the infrastructure is created on moto through the SDK instead", res.Name, res.Message)
	require.NoError(t, m.Start(ctx))
	up, _, err = infra.EmulateApply(ctx, p, m, runID, nightlyVars(runID)["expires_at"].(string), os.Stdout)
	if up != nil {
		nightly.Teardown(t, up.Teardown, m, runID)
	} else {
		require.NoError(t, m.Stop(context.Background()))
	}
	require.NoError(t, err)
	return up
}

// TestNightlyFlowOnEmbeddedAndMoto runs the nightly real-AWS tier's flow (test/nightly, what test/aws runs on
// EKS) every day: the cost guard, the apply (skipped here, the AWS side created on moto instead), the SDK checks
// of what moto holds, the `existing` backend attached to an embedded EKS-shaped cluster whose node groups follow
// their desired size on moto (the harness scales them through UpdateNodegroupConfig, as on EKS), the real Argo
// CD syncing bootstrap.yaml, `harness check` with the workload tier, the staged destroy and the leak scan.
func TestNightlyFlowOnEmbeddedAndMoto(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Minute)
	defer cancel()
	root := testenv.Root()
	p := testenv.MustPlatform(t, root, "local")
	require.NoError(t, check.CostGuard(p, check.Budget{USD: 10, Hours: 3}))
	runID := fmt.Sprintf("nightly-local-%d", time.Now().UnixNano())
	up := bringOnMoto(t, ctx, p, runID)
	pa, err := platform.LoadWith(root, "local", up.Bridge)
	require.NoError(t, err)
	applied := pa.WithApplied(up.Shape)

	emb, _ := testenv.MustEKS(t, applied.Shape)
	// Again, now that the cluster exists: the teardown's first stage deletes what holds AWS resources on it, so it
	// must run before the cluster stops (cleanups run last-registered first; a teardown runs once).
	nightly.Teardown(t, up.Teardown, up.Cloud, runID)
	c, err := existing.New(existing.Config{Shape: applied.Shape, Kubeconfig: emb.Kubeconfig(), Emulated: true})
	require.NoError(t, err)
	require.NoError(t, c.Start(ctx))
	cfg, err := up.Cloud.Config(ctx)
	require.NoError(t, err)
	sizes := map[string]int{}
	for _, g := range applied.Shape.Groups {
		sizes[g.Name] = g.DesiredSize
	}
	stop := emulate.FollowNodeGroups(ctx, cfg, applied.Shape.ClusterName, sizes, emb, 200*time.Millisecond, t.Logf)
	t.Cleanup(stop) // after the node groups are restored (cleanups run last-registered first)

	wl := workloadConfig(t)
	wl.Moto = up.Cloud.(*moto.Moto)
	nightly.Run(t, ctx, nightly.Target{Platform: applied, Up: up, Cluster: c, ArgoCD: argoCD(t),
		Charts: engine.Charts{Dir: testenv.ChartsDir(t)}, CRDsDir: testenv.CRDsDir(t), Workloads: &wl,
		Poll: 200 * time.Millisecond, NodeTimeout: time.Minute})
}

// TestNightlyLeakScanFailsTheRun: a resource the run made outside its Terraform state (here a bucket tagged with
// the run's id) survives destroy, and the teardown fails naming it; the resources of the emulated apply — what
// terraform/ declares, KMS key, log group, queue, rules and the nodes' root volumes among them — are gone or on
// their way out: the KMS key is still listed after destroy (PendingDeletion, its 7-day window) and a deleted
// volume the Tagging API still lists are not leaks, judged by their own state.
func TestNightlyLeakScanFailsTheRun(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	p := testenv.MustPlatform(t, testenv.Root(), "local")
	m := newMoto(t)
	require.NoError(t, m.Start(ctx))
	runID := fmt.Sprintf("nightly-leak-%d", time.Now().UnixNano())
	up, em, err := infra.EmulateApply(ctx, p, m, runID, time.Now().Add(time.Hour).UTC().Format(time.RFC3339), os.Stdout)
	require.NoError(t, err)
	assert.Contains(t, em.Created, "module.eks.aws_kms_key.secrets")
	assert.Contains(t, em.Created, "module.eks.aws_cloudwatch_log_group.cluster")
	assert.Contains(t, strings.Join(em.NotCreated, "\n"), "module.eks.aws_eks_addon.vpc_cni: moto's EKS implements no add-ons")
	cfg, err := m.Config(ctx)
	require.NoError(t, err)
	before, err := reap.Leaks(ctx, cfg, runID)
	require.NoError(t, err)
	types := map[string]bool{}
	for _, r := range before {
		types[r.Type] = true
	}
	for _, want := range []string{"kms:key", "logs:log-group", "ec2:volume", "ec2:vpc", "ec2:subnet", "ec2:natgateway", "sqs:queue", "s3:bucket"} {
		// (EventBridge rules are created and destroyed too, but moto's Tagging API lists only event buses.)
		assert.True(t, types[want], "the emulated apply creates a tagged %s (listed: %v)", want, before)
	}

	// A volume deleted but still listed (as the Tagging API lists deleted volumes for a while) is not a leak.
	ec := ec2.NewFromConfig(cfg)
	vol, err := ec.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String("us-east-1a"), Size: aws.Int32(20)})
	require.NoError(t, err)
	_, err = ec.DeleteVolume(ctx, &ec2.DeleteVolumeInput{VolumeId: vol.VolumeId})
	require.NoError(t, err)
	stale := reap.FromARN("arn:aws:ec2:us-east-1:123456789012:volume/" + aws.ToString(vol.VolumeId))
	require.Equal(t, "ec2:volume", stale.Type)
	live, err := reap.Live(ctx, cfg, []reap.Resource{stale})
	require.NoError(t, err)
	assert.Empty(t, live, "a deleted volume is not a leak")

	sc := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	_, err = sc.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("mlops-nightly-side-bucket")})
	require.NoError(t, err)
	_, err = sc.PutBucketTagging(ctx, &s3.PutBucketTaggingInput{Bucket: aws.String("mlops-nightly-side-bucket"),
		Tagging: &s3types.Tagging{TagSet: []s3types.Tag{{Key: aws.String(reap.TagRunID), Value: aws.String(runID)}}}})
	require.NoError(t, err)

	var scanned, listed []string
	up.Teardown.AfterDestroy("leak scan", func(ctx context.Context) error {
		all, err := reap.Tagged(ctx, cfg, map[string][]string{reap.TagRunID: {runID}})
		for _, r := range all {
			listed = append(listed, r.Type)
		}
		if err != nil {
			return err
		}
		leaks, err := reap.Leaks(ctx, cfg, runID)
		for _, l := range leaks {
			scanned = append(scanned, l.Type+" "+l.ID)
		}
		if err != nil {
			return err
		}
		return nightly.LeakScan(ctx, cfg, runID)
	})
	err = up.Teardown.Run(5 * time.Minute) // stops moto too
	require.Error(t, err)
	assert.Contains(t, err.Error(), "1 resource(s) left after destroy")
	assert.Contains(t, err.Error(), "mlops-nightly-side-bucket")
	assert.Contains(t, listed, "kms:key", "the destroyed KMS key is still listed (PendingDeletion)")
	assert.Equal(t, []string{"s3:bucket mlops-nightly-side-bucket"}, scanned, "everything the emulated apply created was destroyed or is pending deletion")
}
