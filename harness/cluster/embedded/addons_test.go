package embedded

import (
	"context"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/gpu"
)

// TestAddonsActOnChanges: the emulated device plugin and EBS provisioner answer each change of the cluster they
// watch — a device plugin pod Running on a GPU node, then gone; a claim given a node, then deleted — from their
// informers, with no API polling (a loop that reconciled only at its start, or on a timer it no longer has,
// fails here).
func TestAddonsActOnChanges(t *testing.T) {
	gpuNode := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "gpu-0", Labels: map[string]string{corev1.LabelInstanceTypeStable: "g4dn.xlarge"}},
		Status: corev1.NodeStatus{Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4")}}}
	sysNode := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "system-0", Labels: map[string]string{corev1.LabelInstanceTypeStable: "t3.large"}}}
	class := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "gp3"}, Provisioner: EBSCSIDriver}
	cs := fake.NewSimpleClientset(gpuNode, sysNode, class)
	// The fake API server sends only what happens after a watch starts: act once all five informers watch.
	var watches atomic.Int32
	cs.PrependWatchReactor("*", func(a clienttesting.Action) (bool, watch.Interface, error) {
		w, err := cs.Tracker().Watch(a.GetResource(), a.GetNamespace())
		watches.Add(1)
		return true, w, err
	})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); runAddons(ctx, cs, io.Discard, true) }()
	t.Cleanup(func() { cancel(); <-done })
	require.Eventually(t, func() bool { return watches.Load() == 5 }, 10*time.Second, 10*time.Millisecond)

	gpus := func() (int64, bool) {
		n, err := cs.CoreV1().Nodes().Get(ctx, "gpu-0", metav1.GetOptions{})
		require.NoError(t, err)
		q, ok := n.Status.Allocatable[gpu.Resource]
		return q.Value(), ok
	}
	plugin := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "nvidia-device-plugin-abcde", Namespace: "kube-system",
		OwnerReferences: []metav1.OwnerReference{{Kind: "DaemonSet", Name: "nvidia-device-plugin", APIVersion: "apps/v1", UID: "ds"}}},
		Spec: corev1.PodSpec{NodeName: "gpu-0"}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	_, err := cs.CoreV1().Pods("kube-system").Create(ctx, plugin, metav1.CreateOptions{})
	require.NoError(t, err)
	require.Eventually(t, func() bool { n, ok := gpus(); return ok && n == 1 }, 10*time.Second, 10*time.Millisecond,
		"a g4dn.xlarge advertises its GPU while the device plugin runs on it")
	require.NoError(t, cs.CoreV1().Pods("kube-system").Delete(ctx, plugin.Name, metav1.DeleteOptions{}))
	require.Eventually(t, func() bool { _, ok := gpus(); return !ok }, 10*time.Second, 10*time.Millisecond,
		"and no more once it is gone")
	sys, err := cs.CoreV1().Nodes().Get(ctx, "system-0", metav1.GetOptions{})
	require.NoError(t, err)
	require.NotContains(t, sys.Status.Allocatable, gpu.Resource)

	sc := class.Name
	claim := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: "flyte", UID: "0d9c2a4e-5b1f-4c3a-9e77-1234567890ab"},
		Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: &sc, AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("5Gi")}}},
		Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}}
	_, err = cs.CoreV1().PersistentVolumeClaims("flyte").Create(ctx, claim, metav1.CreateOptions{})
	require.NoError(t, err)
	pvName := "pvc-" + string(claim.UID)
	time.Sleep(200 * time.Millisecond)
	_, err = cs.CoreV1().PersistentVolumes().Get(ctx, pvName, metav1.GetOptions{})
	require.True(t, apierrors.IsNotFound(err), "no volume before the scheduler picks a node: %v", err)
	claim.Annotations = map[string]string{selectedNode: "system-0"}
	_, err = cs.CoreV1().PersistentVolumeClaims("flyte").Update(ctx, claim, metav1.UpdateOptions{})
	require.NoError(t, err)
	var pv *corev1.PersistentVolume
	require.Eventually(t, func() bool {
		pv, err = cs.CoreV1().PersistentVolumes().Get(ctx, pvName, metav1.GetOptions{})
		return err == nil
	}, 10*time.Second, 10*time.Millisecond, "a claim with a node gets its volume")
	require.Equal(t, "system-0", pv.Spec.NodeAffinity.Required.NodeSelectorTerms[0].MatchExpressions[0].Values[0])
	require.Equal(t, resource.MustParse("5Gi"), pv.Spec.Capacity[corev1.ResourceStorage])
	require.NoError(t, cs.CoreV1().PersistentVolumeClaims("flyte").Delete(ctx, claim.Name, metav1.DeleteOptions{}))
	require.Eventually(t, func() bool {
		_, err := cs.CoreV1().PersistentVolumes().Get(ctx, pvName, metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	}, 10*time.Second, 10*time.Millisecond, "a released volume is deleted")
}
