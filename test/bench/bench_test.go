// Package bench measures the embedded cluster: `make bench` reports seconds to Ready, to the first GPU pod
// Running, to all pods scheduled at scale, and the control-plane process's peak RSS.
package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/gpu"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cluster/embedded"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/engine"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/shape"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/test/testenv"
)

func gpuPod(name string) *corev1.Pod {
	q := resource.MustParse("1")
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{
		Tolerations: []corev1.Toleration{{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}},
		Containers: []corev1.Container{{Name: "main", Image: "train",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{gpu.Resource: q}, Limits: corev1.ResourceList{gpu.Resource: q}}}},
	}}
}

func peakRSS(b *testing.B, c *embedded.Cluster) float64 {
	n, err := c.PeakRSSBytes()
	require.NoError(b, err)
	return float64(n) / (1 << 20)
}

func start(b *testing.B, s *shape.Shape) (*embedded.Cluster, kubernetes.Interface, time.Duration) {
	// The benchmark's GPU pods stand alone (no device plugin): the nodes advertise their GPUs from the start.
	c, err := embedded.New(embedded.Config{Shape: s, RunDir: b.TempDir(), PreAdvertisedGPUs: true})
	require.NoError(b, err)
	t0 := time.Now()
	err = c.Start(context.Background())
	ready := time.Since(t0)
	b.Cleanup(func() { require.NoError(b, c.Stop(context.Background())) })
	require.NoError(b, err)
	cs, err := kubernetes.NewForConfig(c.RESTConfig())
	require.NoError(b, err)
	return c, cs, ready
}

// BenchmarkDefaultShape: the local environment's shape (2 x t3.large, 1 x g4dn.xlarge). Targets: <= 3 s to all
// nodes Ready, <= 600 MB peak RSS.
func BenchmarkDefaultShape(b *testing.B) {
	for range b.N {
		c, cs, ready := start(b, testenv.MustShape(b, "local"))
		t0 := time.Now()
		ctx := context.Background()
		_, err := cs.CoreV1().Pods("default").Create(ctx, gpuPod("first-gpu"), metav1.CreateOptions{})
		require.NoError(b, err)
		_, err = testenv.WaitPod(ctx, cs, "default", "first-gpu", testenv.Running)
		require.NoError(b, err)
		b.ReportMetric(ready.Seconds(), "s-to-ready")
		b.ReportMetric((ready + time.Since(t0)).Seconds(), "s-to-first-gpu-pod")
		b.ReportMetric(peakRSS(b, c), "MB-control-plane-peak-rss")
	}
}

// BenchmarkScaleShape: 100 g4dn.xlarge GPU nodes and 1,000 pods that tolerate the GPU taint. Targets: <= 30 s
// until all are scheduled, <= 1 GiB peak RSS.
func BenchmarkScaleShape(b *testing.B) {
	for range b.N {
		s := testenv.MustShape(b, "local")
		g, _ := s.Group("gpu")
		g.MaxSize, g.DesiredSize = 100, 100
		c, cs, ready := start(b, s)
		ctx := context.Background()
		t0 := time.Now()
		for i := range 1000 {
			p := gpuPod(fmt.Sprintf("p-%04d", i))
			p.Spec.Containers[0].Resources = corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")}}
			_, err := cs.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{})
			require.NoError(b, err)
		}
		require.NoError(b, wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 5*time.Minute, true, func(ctx context.Context) (bool, error) {
			pods, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{ResourceVersion: "0"})
			if err != nil {
				return false, nil
			}
			scheduled := 0
			for _, p := range pods.Items {
				if p.Spec.NodeName != "" {
					scheduled++
				}
			}
			return scheduled == 1000, nil
		}))
		b.ReportMetric(ready.Seconds(), "s-to-100-nodes-ready")
		b.ReportMetric(time.Since(t0).Seconds(), "s-to-1000-pods-scheduled")
		b.ReportMetric(peakRSS(b, c), "MB-control-plane-peak-rss")
	}
}

// BenchmarkCheckLocalWithCharts: `harness check --env local` in-process with every pinned upstream chart
// installed (../shared/charts or HARNESS_CHARTS_DIR), cluster start included. Goal: <= 20 s warm.
func BenchmarkCheckLocalWithCharts(b *testing.B) {
	charts := testenv.ChartsDir(b)
	crds := testenv.CRDsDir(b)
	for range b.N {
		t0 := time.Now()
		c, _ := testenv.MustEKS(b, testenv.MustShape(b, "local"))
		rs, _ := testenv.Check(b, testenv.Root(), "local", c, engine.Charts{Dir: charts}, crds)
		b.ReportMetric(time.Since(t0).Seconds(), "s-check-with-charts")
		for _, r := range rs {
			require.NotEqual(b, result.Failed, r.Status, "%s: %s", r.Name, r.Message)
		}
	}
}

// BenchmarkKarpenterGPUNode: the real Karpenter with local's GPU NodePool on a cluster whose GPU group is at 0,
// with the generic kwok provider (kwok) and with the AWS provider against moto (aws: its start includes moto, the
// emulated apply and the EC2NodeClass judged Ready): seconds to start, from a pending GPU pod to it Running on a node
// Karpenter launched, and from the pod's deletion to the empty node consolidated away (consolidateAfter included).
func BenchmarkKarpenterGPUNode(b *testing.B) {
	b.Run("kwok", func(b *testing.B) {
		cfg := engine.KarpenterConfigAt(testenv.Root())
		cfg.AWSBinary = ""
		benchKarpenter(b, cfg, engine.ProviderKWOK)
	})
	b.Run("aws", func(b *testing.B) {
		cfg := engine.KarpenterConfigAt(testenv.Root())
		if _, err := os.Stat(cfg.AWSBinary); err != nil {
			b.Skipf("%s not built: make karpenter-aws", cfg.AWSBinary)
		}
		benchKarpenter(b, cfg, engine.ProviderAWS)
	})
}

func benchKarpenter(b *testing.B, cfg engine.KarpenterConfig, provider string) {
	for range b.N {
		p := testenv.MustPlatform(b, testenv.Root(), "local")
		s := testenv.MustShape(b, "local")
		g, _ := s.Group("gpu")
		g.DesiredSize = 0
		c, cs, _ := start(b, s)
		ctx := context.Background()
		e := testenv.MustEnv(b, p, c, engine.Charts{}, "")
		st, err := e.StartKarpenter(ctx, cfg)
		require.NoError(b, err)
		require.Empty(b, st.Skipped)
		require.Equal(b, provider, st.Provider)
		b.Cleanup(e.StopKarpenter)
		b.ReportMetric(st.Took.Seconds(), "s-start")
		pod := gpuPod("burst")
		pod.Spec.NodeSelector = map[string]string{"node-role.mlops.io/gpu": "true"}
		t0 := time.Now()
		_, err = cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
		require.NoError(b, err)
		_, err = testenv.WaitPod(ctx, cs, "default", "burst", testenv.Running)
		require.NoError(b, err)
		running := time.Since(t0)
		t1 := time.Now()
		require.NoError(b, cs.CoreV1().Pods("default").Delete(ctx, "burst", metav1.DeleteOptions{GracePeriodSeconds: new(int64)}))
		require.NoError(b, wait.PollUntilContextTimeout(ctx, time.Second, 5*time.Minute, true, func(ctx context.Context) (bool, error) {
			nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: "karpenter.sh/nodepool"})
			return err == nil && len(nodes.Items) == 0, nil
		}))
		b.ReportMetric(running.Seconds(), "s-pending-to-running")
		b.ReportMetric(time.Since(t1).Seconds(), "s-to-consolidated")
	}
}

// BenchmarkCheckReusingTheDeploy: bin/harness check --env local --deploy argocd (the upstream charts, the real Argo
// CD; no workload tier, no scenarios) twice on the repository with a fresh snapshot store and --reuse-deploy, as make
// test-local runs it: the first deploys (and snapshots the deploy), the second starts from that snapshot. Reports
// both commands' wall time. Goal: the second <= 120 s with the workload tier and the scenarios (make test-local).
func BenchmarkCheckReusingTheDeploy(b *testing.B) {
	bin := filepath.Join(testenv.Root(), "bin", "harness")
	if _, err := os.Stat(bin); err != nil {
		b.Skipf("%s not built: make build", bin)
	}
	if _, err := os.Stat(filepath.Join(testenv.Root(), "bin", "argocd")); err != nil {
		b.Skip("Argo CD not built: make argocd")
	}
	charts := testenv.ChartsDir(b)
	for range b.N {
		snaps := b.TempDir()
		run := func(want string) time.Duration {
			cmd := exec.Command(bin, "check", "--env", "local", "--root", testenv.Root(), "--deploy", "argocd", "--reuse-deploy",
				"--charts-dir", charts, "--snapshots", snaps, "--report-dir", b.TempDir())
			t0 := time.Now()
			out, err := cmd.CombinedOutput()
			took := time.Since(t0)
			require.NoError(b, err, "%s", out)
			require.Contains(b, string(out), want)
			return took
		}
		b.ReportMetric(run("deployed platform snapshot in").Seconds(), "s-check-deploying")
		b.ReportMetric(run("not deployed again").Seconds(), "s-check-reusing-the-deploy")
	}
}
