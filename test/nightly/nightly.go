// Package nightly is the nightly real-AWS tier's flow, shared by its two callers so that it runs every day:
//
//   - test/aws (build tag aws, `make test-aws`): Terraform applied to a real account, the flow on real EKS;
//   - test/local (`make test`): the same flow with the AWS side on moto (the Terraform apply skipped where its
//     provider cannot be installed, saying so, and the infrastructure created through the SDK instead) and the
//     `existing` backend pointed at an embedded cluster whose node groups follow the desired sizes on moto.
//
// Run is the flow after apply: the SDK checks of what AWS holds, nodes Ready per node group, Argo CD syncing
// bootstrap.yaml, `harness check` with the node groups scaled through EKS's API, the GPU advertised, the smoke
// clients, and — registered by Teardown — the staged destroy and the leak scan by the run's tag.
package nightly

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/check"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/check/workload"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cloud"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cloud/reap"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cluster/existing"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/engine"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/gpu"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/infra"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/platform"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/shape"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/smoke"
)

// Target is what the flow runs on.
type Target struct {
	// Platform is the model with the applied GitOps Bridge and node groups
	// (platform.LoadWith(root, env, up.Bridge).WithApplied(up.Shape)).
	Platform *platform.Platform
	// Up is the infrastructure: applied by Terraform (infra.Bring) or created on an emulator (emulate.Apply).
	Up *infra.Up
	// Cluster is the applied cluster attached through its kubeconfig, started.
	Cluster *existing.Cluster
	// ArgoCD deploys the platform: from its release manifest into EKS (InstallManifest; the root Application at
	// the commit under test), or as processes beside an emulated cluster (Binary).
	ArgoCD engine.ArgoCD
	// Charts and CRDsDir are the engine's (fetched with network; the unpacked pinned charts without).
	Charts  engine.Charts
	CRDsDir string
	// Workloads, on an emulated cluster, runs the workflows inside `harness check` with the real runtimes (the
	// real KubeRay against the cluster, a local Ray head, flytekit, KServe's ModelServer) through the same smoke
	// clients; nil on EKS, where the smoke subtests submit to the cluster and its operators run them.
	Workloads *workload.Config
	// Poll is the interval of the waits for nodes, GPUs and released volumes (EKS: 15 s).
	Poll time.Duration
	// NodeTimeout bounds a node group's scaling (EKS: 15 min; an instance joins in 2-4 min).
	NodeTimeout time.Duration
}

// Teardown registers the staged teardown with t.Cleanup (it runs when a subtest panics or a require fails) with
// the leak scan after destroy: nothing may carry the run's tag.
func Teardown(t *testing.T, td *infra.Teardown, c cloud.Cloud, runID string) {
	t.Helper()
	if td == nil {
		return
	}
	t.Cleanup(func() {
		cfg, cfgErr := c.Config(context.Background())
		td.AfterDestroy("leak scan (Tagging API + IAM, EKS, EventBridge, EC2 reads, run-id="+runID+")", func(ctx context.Context) error {
			if cfgErr != nil {
				return cfgErr
			}
			return LeakScan(ctx, cfg, runID)
		})
		assert.NoError(t, td.Run(TeardownBudget), "destroy and leak scan (DESTROY FAILED means resources may still cost money)")
	})
}

// LeakScan fails when any live resource carries the run's tag.
func LeakScan(ctx context.Context, cfg awssdk.Config, runID string) error {
	leaks, err := reap.Leaks(ctx, cfg, runID)
	if err != nil {
		return err
	}
	if len(leaks) > 0 {
		return fmt.Errorf("%d resource(s) left after destroy: %v", len(leaks), leaks)
	}
	return nil
}

// Run runs the checks and smoke tests against the applied infrastructure.
func Run(t *testing.T, ctx context.Context, tg Target) {
	p, up := tg.Platform, tg.Up
	if tg.Poll == 0 {
		tg.Poll = 15 * time.Second
	}
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

	c := tg.Cluster
	cs, err := kubernetes.NewForConfig(c.RESTConfig())
	require.NoError(t, err)
	dyn, err := dynamic.NewForConfig(c.RESTConfig())
	require.NoError(t, err)
	require.NoError(t, waitNodes(ctx, cs, applied, tg.Poll), "nodes of the applied node groups Ready")
	// Staged destroy: what the run puts on the cluster that holds AWS resources Terraform does not know goes first.
	up.Teardown.BeforeDestroy("delete workloads, LoadBalancer Services and PersistentVolumeClaims", func(ctx context.Context) error {
		return releaseAWSResources(ctx, cs, dyn, tg.Poll)
	})

	// The cluster's node groups scale through EKS (UpdateNodegroupConfig within min/max, nodes waited for), so
	// gpu-capacity means here what it means on the emulated cluster; the sizes are restored at the end.
	groups := existing.NewNodeGroups(cfg, applied.ClusterName, cs)
	groups.Poll = min(groups.Poll, tg.Poll)
	if tg.NodeTimeout > 0 {
		groups.Timeout = tg.NodeTimeout
	}
	scaling := existing.WithNodeGroups(c, groups)
	t.Cleanup(func() { assert.NoError(t, scaling.Stop(context.Background()), "restore node group sizes") })
	e, err := engine.NewEnv(p, scaling, tg.Charts, tg.CRDsDir)
	require.NoError(t, err)
	t.Run("Argo CD syncs bootstrap.yaml", func(t *testing.T) {
		// As the runbook: Argo CD at the pinned version, bootstrap.yaml applied with the root Application at the
		// commit under test (on EKS it must be pushed) and the applied GitOps Bridge; every Application Synced and
		// Healthy, or named with Argo CD's message.
		a := tg.ArgoCD
		if a.InstallManifest != "" && a.Revision == "" {
			a.Revision = CommitUnderTest(t, root)
		}
		if a.Progress == nil {
			a.Progress = t.Logf
		}
		if tg.CRDsDir != "" {
			// The generated CRDs for kinds no installable chart ships (the emulated flow: Karpenter's chart is not
			// here, so its NodePool/EC2NodeClass CRDs are the generated ones; on EKS the chart brings them).
			r := check.CRDs(e.InstallCRDs(ctx))
			t.Logf("%-28s %-8s %s", r.Name, r.Status, r.Message)
			require.NotEqual(t, result.Failed, r.Status, "%s %v", r.Message, r.Details)
		}
		for _, r := range check.Deploy(e.DeployArgoCD(ctx, a)) {
			t.Logf("%-28s %-8s %s", r.Name, r.Status, r.Message)
			assert.Equal(t, result.Passed, r.Status, "%s: %s %v", r.Name, r.Message, r.Details)
		}
	})

	t.Run("harness check", func(t *testing.T) {
		// Argo CD deployed the platform: the check judges what it synced (no second deploy with Helm).
		steps := check.Except(check.Steps(), check.PhaseDeploy)
		rs, err := check.Execute(ctx, &check.Run{Env: e, Workloads: tg.Workloads, KubeRay: check.KubeRayAt(root)}, steps, nil)
		require.NoError(t, err)
		for _, r := range rs {
			t.Logf("%-28s %-8s %s", r.Name, r.Status, r.Message)
			assert.NotEqual(t, result.Failed, r.Status, "%s: %s %v", r.Name, r.Message, r.Details)
			switch {
			case strings.HasPrefix(r.Name, "wiring/"):
				// Every chart renders (fetched with network, unpacked without): a skipped wiring check is a broken pin.
				assert.Equal(t, result.Passed, r.Status, "%s: %s", r.Name, r.Message)
			case strings.HasPrefix(r.Name, "workload/") && tg.Workloads != nil:
				assert.Equal(t, result.Passed, r.Status, "%s: %s %v", r.Name, r.Message, r.Details)
				if r.Name == workload.NameRayTrain {
					// The RayJob's pods, head and worker, placed by kube-scheduler on the node groups.
					assert.Contains(t, strings.Join(r.Details, "\n"), "worker", "the RayJob's worker pod was placed")
				}
			}
		}
	})
	require.NoError(t, waitGPUAllocatable(ctx, cs, tg.Poll), "the NVIDIA device plugin advertises nvidia.com/gpu on the g4dn node")

	onCluster := func(t *testing.T) {
		t.Helper()
		if tg.Workloads != nil {
			t.Skip("skipped: on an emulated cluster nothing runs in pods; the workload tier ran the workflows in `harness check` (workload/*) through the same smoke clients")
		}
	}
	// A smoke test that could not run leaves its part of the platform untested: on EKS the run is then not green
	// but INCOMPLETE, naming the parts, unless HARNESS_NIGHTLY_OFF lists them (off on purpose).
	var untested []string
	notTested := func(t *testing.T, part, format string, args ...any) {
		t.Helper()
		untested = append(untested, part)
		t.Skipf("skipped: "+format, args...)
	}
	defer func() {
		if tg.Workloads != nil {
			return
		}
		if missing := Incomplete(untested, os.Getenv("HARNESS_NIGHTLY_OFF")); len(missing) > 0 {
			t.Errorf("INCOMPLETE: not tested: %s (set HARNESS_NIGHTLY_OFF=%s to run without them on purpose)", strings.Join(missing, ", "), strings.Join(missing, ","))
		}
	}()
	t.Run("ray training", func(t *testing.T) {
		onCluster(t)
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
		onCluster(t)
		image := os.Getenv("HARNESS_FLYTE_IMAGE")
		pyflyte, err := exec.LookPath("pyflyte")
		if image == "" || err != nil {
			notTested(t, "flyte", "needs pyflyte on PATH and HARNESS_FLYTE_IMAGE (pyflyte: %v, image %q)", err, image)
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
		onCluster(t)
		key := "models/sklearn-iris/model.joblib"
		if _, err := s3.NewFromConfig(cfg).HeadObject(ctx, &s3.HeadObjectInput{Bucket: awssdk.String(bucket), Key: awssdk.String(key)}); err != nil {
			notTested(t, "kserve", "no model at s3://%s/%s (the Flyte smoke test publishes it): %v", bucket, key, err)
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

// Incomplete are the untested parts that off (comma-separated, HARNESS_NIGHTLY_OFF) does not declare off.
func Incomplete(untested []string, off string) []string {
	declared := map[string]bool{}
	for _, p := range strings.Split(off, ",") {
		declared[strings.TrimSpace(p)] = true
	}
	var out []string
	for _, p := range untested {
		if !declared[p] {
			out = append(out, p)
		}
	}
	return out
}

// waitNodes waits until every node group has its desired number of Ready nodes (by the EKS node group label).
func waitNodes(ctx context.Context, cs kubernetes.Interface, s *shape.Shape, poll time.Duration) error {
	var last string
	err := wait.PollUntilContextTimeout(ctx, poll, 20*time.Minute, true, func(ctx context.Context) (bool, error) {
		nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		ready := map[string]int{}
		for _, n := range nodes.Items {
			for _, c := range n.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					ready[n.Labels[existing.LabelNodegroup]]++
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

func waitGPUAllocatable(ctx context.Context, cs kubernetes.Interface, poll time.Duration) error {
	return wait.PollUntilContextTimeout(ctx, poll, 15*time.Minute, true, func(ctx context.Context) (bool, error) {
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

// Upgrade is the nightly's optional -upgrade-to stage: the EKS control plane and then every managed node group
// upgraded in place to the minor `to` (existing.Upgrade: UpdateClusterVersion, UpdateNodegroupVersion, each
// waited for), then every `harness check` step but the deploy again on the upgraded cluster. What
// `harness rehearse` rehearses locally, done on EKS.
func Upgrade(t *testing.T, ctx context.Context, tg Target, to string) {
	cfg, err := tg.Up.Cloud.Config(ctx)
	require.NoError(t, err)
	var groups []string
	for _, g := range tg.Platform.Shape.Groups {
		groups = append(groups, g.Name)
	}
	t.Run("upgrade to "+to, func(t *testing.T) {
		u := existing.Upgrade{API: eks.NewFromConfig(cfg), Cluster: tg.Platform.Shape.ClusterName, To: to, Groups: groups, Progress: t.Logf}
		require.NoError(t, u.Run(ctx))
		// Scaling through EKS as in Run, so the scale-dependent checks run rather than skip.
		cs, err := kubernetes.NewForConfig(tg.Cluster.RESTConfig())
		require.NoError(t, err)
		scaling := existing.WithNodeGroups(tg.Cluster, existing.NewNodeGroups(cfg, tg.Platform.Shape.ClusterName, cs))
		t.Cleanup(func() { assert.NoError(t, scaling.Stop(context.Background()), "restore node group sizes") })
		e, err := engine.NewEnv(tg.Platform, scaling, tg.Charts, tg.CRDsDir)
		require.NoError(t, err)
		steps := check.Except(check.Steps(), check.PhaseDeploy, check.PhaseCRDs)
		rs, err := check.Execute(ctx, &check.Run{Env: e}, steps, nil)
		require.NoError(t, err)
		for _, r := range rs {
			t.Logf("%-28s %-8s %s", r.Name, r.Status, r.Message)
			assert.NotEqual(t, result.Failed, r.Status, "after the upgrade to %s: %s: %s %v", to, r.Name, r.Message, r.Details)
		}
	})
}
