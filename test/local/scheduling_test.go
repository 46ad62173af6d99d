package local

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/gpu"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/shape"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/test/testenv"
)

var gpuToleration = corev1.Toleration{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}

func podSpec(gpus int64, tolerate bool) corev1.PodSpec {
	c := corev1.Container{Name: "main", Image: "public.ecr.aws/docker/library/busybox:1.36",
		Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")}}}
	if gpus > 0 {
		q := *resource.NewQuantity(gpus, resource.DecimalSI)
		c.Resources.Requests[gpu.Resource] = q
		c.Resources.Limits = corev1.ResourceList{gpu.Resource: q}
	}
	spec := corev1.PodSpec{Containers: []corev1.Container{c}}
	if tolerate {
		spec.Tolerations = []corev1.Toleration{gpuToleration}
	}
	return spec
}

func createPod(t *testing.T, ctx context.Context, cs kubernetes.Interface, ns, name string, spec corev1.PodSpec) {
	t.Helper()
	_, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}, metav1.CreateOptions{})
	require.NoError(t, err)
}

func createNamespace(t *testing.T, ctx context.Context, cs kubernetes.Interface, name string) {
	t.Helper()
	_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	require.NoError(t, err)
	// Pods are admitted once the namespace's default service account exists.
	require.NoError(t, wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	}))
}

// TestSchedulerPlacesByTerraformShape runs the real scheduler against nodes shaped from terraform/ (local).
func TestSchedulerPlacesByTerraformShape(t *testing.T) {
	t.Parallel()
	_, cs := testenv.MustEmbedded(t, testenv.MustShape(t, "local"))
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	t.Run("gpu pod with toleration runs on the gpu group", func(t *testing.T) {
		createNamespace(t, ctx, cs, "gpu-a")
		createPod(t, ctx, cs, "gpu-a", "train", podSpec(1, true))
		pod, err := testenv.WaitPod(ctx, cs, "gpu-a", "train", testenv.Running)
		require.NoError(t, err)
		node, err := cs.CoreV1().Nodes().Get(ctx, pod.Spec.NodeName, metav1.GetOptions{})
		require.NoError(t, err)
		assert.Equal(t, "gpu", node.Labels[shape.LabelNodeGroup])
		assert.Equal(t, "g4dn.xlarge", node.Labels[shape.LabelInstanceType])

		t.Run("second gpu pod stays pending: one g4dn.xlarge has one GPU", func(t *testing.T) {
			createPod(t, ctx, cs, "gpu-a", "train-2", podSpec(1, true))
			pod, err := testenv.WaitPod(ctx, cs, "gpu-a", "train-2", func(p *corev1.Pod) bool { _, ok := testenv.Unschedulable(p); return ok })
			require.NoError(t, err)
			msg, _ := testenv.Unschedulable(pod)
			assert.Contains(t, msg, "Insufficient nvidia.com/gpu")
			assert.Equal(t, corev1.PodPending, pod.Status.Phase)
			assert.Empty(t, pod.Spec.NodeName)
		})
	})

	t.Run("gpu pod without toleration gets it at admission, as on EKS (ExtendedResourceToleration)", func(t *testing.T) {
		createNamespace(t, ctx, cs, "gpu-b")
		createPod(t, ctx, cs, "gpu-b", "no-toleration", podSpec(1, false))
		pod, err := cs.CoreV1().Pods("gpu-b").Get(ctx, "no-toleration", metav1.GetOptions{})
		require.NoError(t, err)
		assert.Contains(t, pod.Spec.Tolerations, corev1.Toleration{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule})
	})

	t.Run("pod selecting the gpu group without a GPU or the toleration is refused by the taint", func(t *testing.T) {
		createNamespace(t, ctx, cs, "gpu-c")
		spec := podSpec(0, false)
		spec.NodeSelector = map[string]string{"node-role.mlops.io/gpu": "true"}
		createPod(t, ctx, cs, "gpu-c", "no-toleration", spec)
		pod, err := testenv.WaitPod(ctx, cs, "gpu-c", "no-toleration", func(p *corev1.Pod) bool { _, ok := testenv.Unschedulable(p); return ok })
		require.NoError(t, err)
		msg, _ := testenv.Unschedulable(pod)
		assert.Contains(t, msg, "1 node(s) had untolerated taint(s)")
	})

	t.Run("plain deployment never lands on gpu nodes", func(t *testing.T) {
		createNamespace(t, ctx, cs, "web")
		labels := map[string]string{"app": "web"}
		_, err := cs.AppsV1().Deployments("web").Create(ctx, &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "web"},
			Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](6), Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: podSpec(0, false)}},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
		require.NoError(t, wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			d, err := cs.AppsV1().Deployments("web").Get(ctx, "web", metav1.GetOptions{})
			return err == nil && d.Status.ReadyReplicas == 6, nil
		}), "deployment ready")
		pods, err := cs.CoreV1().Pods("web").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		require.NoError(t, err)
		require.Len(t, pods.Items, 6)
		for _, p := range pods.Items {
			assert.Regexp(t, `^system-\d+$`, p.Spec.NodeName, "pod %s", p.Name)
		}

		t.Run("garbage collection removes pods of a deleted deployment", func(t *testing.T) {
			fg := metav1.DeletePropagationBackground
			require.NoError(t, cs.AppsV1().Deployments("web").Delete(ctx, "web", metav1.DeleteOptions{PropagationPolicy: &fg}))
			require.NoError(t, wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
				rs, err1 := cs.AppsV1().ReplicaSets("web").List(ctx, metav1.ListOptions{})
				pods, err2 := cs.CoreV1().Pods("web").List(ctx, metav1.ListOptions{})
				return err1 == nil && err2 == nil && len(rs.Items) == 0 && len(pods.Items) == 0, nil
			}), "replicasets and pods collected")
		})
	})

	t.Run("job pods complete", func(t *testing.T) {
		createNamespace(t, ctx, cs, "batch")
		spec := podSpec(0, false)
		spec.RestartPolicy = corev1.RestartPolicyNever
		_, err := cs.BatchV1().Jobs("batch").Create(ctx, &batchv1.Job{
			ObjectMeta: metav1.ObjectMeta{Name: "preprocess"},
			Spec: batchv1.JobSpec{Completions: ptr.To[int32](3), Parallelism: ptr.To[int32](3),
				Template: corev1.PodTemplateSpec{Spec: spec}},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
		require.NoError(t, wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			j, err := cs.BatchV1().Jobs("batch").Get(ctx, "preprocess", metav1.GetOptions{})
			return err == nil && j.Status.Succeeded == 3, nil
		}), "job succeeded")
	})

	t.Run("namespace deletion removes its contents", func(t *testing.T) {
		createNamespace(t, ctx, cs, "scratch")
		for i := range 3 {
			createPod(t, ctx, cs, "scratch", fmt.Sprintf("p%d", i), podSpec(0, false))
		}
		_, err := cs.CoreV1().ConfigMaps("scratch").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c"}}, metav1.CreateOptions{})
		require.NoError(t, err)
		require.NoError(t, cs.CoreV1().Namespaces().Delete(ctx, "scratch", metav1.DeleteOptions{}))
		require.NoError(t, wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			_, err := cs.CoreV1().Namespaces().Get(ctx, "scratch", metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		}), "namespace gone")
	})
}
