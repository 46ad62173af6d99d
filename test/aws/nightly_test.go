//go:build aws

package aws

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/gpu"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/argocd"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/check"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cloud"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cloud/real"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cloud/reap"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cluster"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cluster/existing"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/engine"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/infra"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/platform"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/shape"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/smoke"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/workload"
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
	// Leave destroy its time: the run's own work stops 45 minutes before go test's deadline, and destroy runs
	// on a context of its own.
	deadline := time.Now().Add(120 * time.Minute)
	if d, ok := t.Deadline(); ok {
		deadline = d.Add(-45 * time.Minute)
	}
	ctx, cancel := context.WithDeadline(t.Context(), deadline)
	defer cancel()

	p, err := platform.Load(root, env)
	require.NoError(t, err)
	// The cost guard, before anything exists: the worst case (node groups at max size) for the time this run may
	// take must fit HARNESS_BUDGET (USD).
	budget, err := strconv.ParseFloat(getenv("HARNESS_BUDGET", "10"), 64)
	require.NoError(t, err, "HARNESS_BUDGET")
	require.NoError(t, check.CostGuard(p, check.Budget{USD: budget, Hours: time.Until(deadline).Hours() + 0.75}))
	backend, err := real.New(real.Config{Account: account, Region: region})
	require.NoError(t, err)
	runID := fmt.Sprintf("nightly-%d", time.Now().Unix())
	// The apply tier, as `harness apply --aws aws` runs it: a temporary copy (outside t.TempDir, so its state
	// survives a failed destroy), allowed_account_ids = [HARNESS_AWS_ACCOUNT], retries on transient errors, every
	// resource tagged with this run's run-id and an expires-at `harness reap` honours if all else fails.
	up, td, res, err := infra.Bring(ctx, infra.TierOptions{Platform: p, Cloud: backend, AllowedAccount: account, Progress: os.Stdout,
		Vars: map[string]any{
			"project":            "mlops-nightly",
			"region":             region,
			"availability_zones": []string{region + "a", region + "b"},
			"run_id":             runID,
			"expires_at":         time.Now().Add(6 * time.Hour).UTC().Format(time.RFC3339),
		}})
	if td != nil {
		// Registered before anything can fail: t.Cleanup runs when a subtest panics or a require fails (the
		// parent's defers would not). Destroy gets its own hour; then nothing may carry the run's tag.
		t.Cleanup(func() {
			cfg, cfgErr := backend.Config(context.Background())
			td.AfterDestroy("leak scan (Resource Groups Tagging API, run-id="+runID+")", func(ctx context.Context) error {
				if cfgErr != nil {
					return cfgErr
				}
				leaks, err := reap.Leaks(ctx, cfg, runID)
				if err != nil {
					return err
				}
				if len(leaks) > 0 {
					return fmt.Errorf("%d resource(s) left after destroy: %v", len(leaks), leaks)
				}
				return nil
			})
			assert.NoError(t, td.Run(time.Hour), "destroy and leak scan (DESTROY FAILED means resources may still cost money)")
		})
	}
	require.NoError(t, err, "apply, outputs, an empty second plan")
	require.Equal(t, result.Passed, res.Status, "terraform or tofu and the hashicorp/aws provider must be installable for the nightly tier: %s", res.Message)
	// The GitOps side gets what Terraform output (the apply tier compared it with what the static checks judged),
	// as the root Application does after the runbook's bridge step.
	pa, err := platform.LoadWith(root, env, up.Bridge)
	require.NoError(t, err)
	onEKS(t, ctx, pa.WithApplied(up.Shape), up, region, harnessBin)
}

// onEKS runs the checks and smoke tests against the applied infrastructure.
func onEKS(t *testing.T, ctx context.Context, p *platform.Platform, up *infra.Up, region, harnessBin string) {
	root := p.Root
	applied, outputs := p.Shape, up.Outputs
	cfg, err := up.Cloud.Config(ctx)
	require.NoError(t, err)
	bucket := p.Bridge.Leaves["artifactsBucket"]
	require.Equal(t, fmt.Sprint(outputs["artifacts_bucket"]), bucket, "the bridge's bucket is the bucket Terraform created")

	t.Run("aws-side checks", func(t *testing.T) {
		diffs, err := cloud.CheckNodeGroups(ctx, cfg, applied)
		require.NoError(t, err)
		assert.Empty(t, diffs)
		problems, err := cloud.CheckBucket(ctx, cfg, bucket)
		require.NoError(t, err)
		assert.Empty(t, problems)
	})

	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, existing.WriteEKSKubeconfig(kubeconfig, existing.EKS{Name: applied.ClusterName,
		Endpoint: fmt.Sprint(outputs["cluster_endpoint"]), CAData: fmt.Sprint(outputs["cluster_certificate_authority_data"]),
		Region: region, Exec: []string{harnessBin, "eks-token"}}))
	c, err := cluster.New(ctx, cluster.Config{Backend: cluster.Existing, Shape: applied, Kubeconfig: kubeconfig})
	require.NoError(t, err)
	require.NoError(t, c.Start(ctx))
	cs, err := kubernetes.NewForConfig(c.RESTConfig())
	require.NoError(t, err)
	dyn, err := dynamic.NewForConfig(c.RESTConfig())
	require.NoError(t, err)
	require.NoError(t, waitNodes(ctx, cs, applied), "nodes of the applied node groups Ready")
	// Staged destroy: what the run puts on the cluster that holds AWS resources Terraform does not know goes first.
	up.Teardown.BeforeDestroy("delete workloads, LoadBalancer Services and PersistentVolumeClaims", func(ctx context.Context) error {
		return releaseAWSResources(ctx, cs, dyn)
	})

	// The cluster's node groups scale through EKS (UpdateNodegroupConfig within min/max, nodes waited for), so
	// gpu-capacity means here what it means on the emulated cluster; the sizes are restored at the end.
	scaling := existing.WithNodeGroups(c.(*existing.Cluster), existing.NewNodeGroups(cfg, applied.ClusterName, cs))
	t.Cleanup(func() { assert.NoError(t, scaling.Stop(context.Background()), "restore node group sizes") })
	e, err := engine.NewEnv(p, scaling, engine.Charts{Fetch: true, Cache: t.TempDir()}, "")
	require.NoError(t, err)
	t.Run("Argo CD syncs bootstrap.yaml", func(t *testing.T) {
		// As the runbook: Argo CD installed at the pinned version, bootstrap.yaml applied with the root Application
		// at the commit under test (it must be pushed) and the applied GitOps Bridge; every Application Synced and
		// Healthy, or named with Argo CD's message.
		rev := commitUnderTest(t, root)
		for _, r := range e.DeployArgoCD(ctx, engine.ArgoCD{InstallManifest: argocd.ReleaseManifest, Revision: rev, Timeout: 30 * time.Minute, Progress: t.Logf}) {
			t.Logf("%-28s %-8s %s", r.Name, r.Status, r.Message)
			assert.Equal(t, result.Passed, r.Status, "%s: %s %v", r.Name, r.Message, r.Details)
		}
	})

	t.Run("harness check on real EKS", func(t *testing.T) {
		// Argo CD deployed the platform: the check judges what it synced (no second deploy with Helm).
		var steps []check.Step
		for _, s := range check.Steps() {
			if s.Names[0] != "deploy" {
				steps = append(steps, s)
			}
		}
		rs, err := check.Execute(ctx, &check.Run{Env: e}, steps, nil)
		require.NoError(t, err)
		for _, r := range rs {
			t.Logf("%-28s %-8s %s", r.Name, r.Status, r.Message)
			assert.NotEqual(t, result.Failed, r.Status, "%s: %s %v", r.Name, r.Message, r.Details)
			if strings.HasPrefix(r.Name, "wiring/") {
				// With network every chart renders: a skipped wiring check is a broken pin, not an outage.
				assert.Equal(t, result.Passed, r.Status, "%s: %s", r.Name, r.Message)
			}
		}
	})
	require.NoError(t, waitGPUAllocatable(ctx, cs), "the NVIDIA device plugin advertises nvidia.com/gpu on the g4dn node")

	t.Run("ray training", func(t *testing.T) {
		// The manifest as the platform model holds it: ${ARTIFACTS_BUCKET} substituted from the applied bridge.
		job, err := workflow(p, "RayJob", "train-mlp")
		require.NoError(t, err)
		// The runbook's code step: the RayJob's working_dir (workflows/ray zipped to the artifacts bucket).
		shipped, err := workload.ShipCode(ctx, s3.NewFromConfig(cfg), p)
		require.NoError(t, err)
		t.Logf("shipped %v", shipped)
		require.NoError(t, smoke.Submit(ctx, dyn, smoke.RayJobs, job))
		require.NoError(t, smoke.WaitRayJob(ctx, dyn, job.GetNamespace(), job.GetName(), 45*time.Minute, 10*time.Second))
	})

	modelURI := "s3://" + bucket + "/models/sklearn-iris"
	t.Run("flyte training", func(t *testing.T) {
		image := os.Getenv("HARNESS_FLYTE_IMAGE")
		pyflyte, err := exec.LookPath("pyflyte")
		if image == "" || err != nil {
			t.Skipf("skipped: needs pyflyte on PATH and HARNESS_FLYTE_IMAGE (pyflyte: %v, image %q)", err, image)
		}
		port, err := smoke.PortForward(ctx, c.RESTConfig(), "flyte", "flyte-flyte-binary-grpc", 8089)
		require.NoError(t, err)
		conf := filepath.Join(t.TempDir(), "flyte.yaml")
		require.NoError(t, os.WriteFile(conf, fmt.Appendf(nil, "admin:\n  endpoint: dns:///127.0.0.1:%d\n  insecure: true\n", port), 0o600))
		cmd := exec.CommandContext(ctx, pyflyte, "--config", conf, "run", "--remote", "--wait", "--image", image,
			"--project", "flytesnacks", "--domain", "development", "--service-account", "flyte-tasks",
			filepath.Join(root, "workflows", "flyte", "training_pipeline.py"), "training_pipeline", "--model_uri", modelURI)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
	})

	t.Run("kserve inference", func(t *testing.T) {
		key := "models/sklearn-iris/model.joblib"
		if _, err := s3.NewFromConfig(cfg).HeadObject(ctx, &s3.HeadObjectInput{Bucket: awssdk.String(bucket), Key: awssdk.String(key)}); err != nil {
			t.Skipf("skipped: no model at s3://%s/%s (the Flyte smoke test publishes it): %v", bucket, key, err)
		}
		isvc, err := workflow(p, "InferenceService", "sklearn-iris")
		require.NoError(t, err)
		uri, _, _ := unstructured.NestedString(isvc.Object, "spec", "predictor", "model", "storageUri")
		require.Equal(t, modelURI, uri, "the InferenceService serves where the pipeline publishes")
		require.NoError(t, smoke.Submit(ctx, dyn, smoke.InferenceServices, isvc))
		_, err = smoke.WaitReady(ctx, dyn, smoke.InferenceServices, isvc.GetNamespace(), isvc.GetName(), 20*time.Minute, 10*time.Second)
		require.NoError(t, err)
		preds, err := smoke.InferV2(ctx, cs, isvc.GetNamespace(), isvc.GetName()+"-predictor", 80, isvc.GetName(), smoke.SampleRows)
		require.NoError(t, err)
		labels, err := smoke.ClassLabels(preds)
		require.NoError(t, err)
		t.Logf("predictions: %v", labels)
	})
}

// waitNodes waits until every node group has its desired number of Ready nodes (by the EKS node group label).
func waitNodes(ctx context.Context, cs kubernetes.Interface, s *shape.Shape) error {
	var last string
	err := wait.PollUntilContextTimeout(ctx, 15*time.Second, 20*time.Minute, true, func(ctx context.Context) (bool, error) {
		nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		ready := map[string]int{}
		for _, n := range nodes.Items {
			for _, c := range n.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					ready[n.Labels["eks.amazonaws.com/nodegroup"]]++
				}
			}
		}
		var missing []string
		for _, g := range s.Groups {
			// EKS names managed node groups <cluster>-<group> or <group>; count either.
			n := ready[g.Name] + ready[s.ClusterName+"-"+g.Name]
			if n < g.DesiredSize {
				missing = append(missing, fmt.Sprintf("%s %d/%d", g.Name, n, g.DesiredSize))
			}
		}
		last = strings.Join(missing, ", ")
		return len(missing) == 0, nil
	})
	if err != nil {
		return fmt.Errorf("%w (%s)", err, last)
	}
	return nil
}

func waitGPUAllocatable(ctx context.Context, cs kubernetes.Interface) error {
	return wait.PollUntilContextTimeout(ctx, 15*time.Second, 15*time.Minute, true, func(ctx context.Context) (bool, error) {
		nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: "node-role.mlops.io/gpu=true"})
		if err != nil {
			return false, nil
		}
		for _, n := range nodes.Items {
			if q, ok := n.Status.Allocatable[gpu.Resource]; ok && q.Value() > 0 {
				return true, nil
			}
		}
		return false, nil
	})
}
