package local

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cluster/embedded"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/test/testenv"
)

// TestVolumeClaimsBindLikeEBS: a claim of a StorageClass provisioned by the EBS CSI driver (the EKS add-on the
// platform installs) binds once the scheduler picks a node, so a pod with it runs, as on EKS; a claim of a
// provisioner that does not exist on EKS stays Pending, as it would there.
func TestVolumeClaimsBindLikeEBS(t *testing.T) {
	t.Parallel()
	_, cs := testenv.MustEmbedded(t, testenv.MustShape(t, "local"))
	ctx := t.Context()
	wffc := storagev1.VolumeBindingWaitForFirstConsumer
	for name, prov := range map[string]string{"ebs": embedded.EBSCSIDriver, "nowhere": "example.com/no-such-driver"} {
		_, err := cs.StorageV1().StorageClasses().Create(ctx, &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name},
			Provisioner: prov, VolumeBindingMode: &wffc}, metav1.CreateOptions{})
		require.NoError(t, err)
		claimPod(t, cs, name)
	}
	pod, err := testenv.WaitPod(ctx, cs, "default", "with-ebs", testenv.Running)
	require.NoError(t, err, "a pod with an EBS claim runs")
	pvc, err := cs.CoreV1().PersistentVolumeClaims("default").Get(ctx, "claim-ebs", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, corev1.ClaimBound, pvc.Status.Phase)
	pv, err := cs.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, pod.Spec.NodeName, pv.Spec.NodeAffinity.Required.NodeSelectorTerms[0].MatchExpressions[0].Values[0], "the volume lives where the pod runs")

	time.Sleep(2 * time.Second)
	other, err := cs.CoreV1().Pods("default").Get(ctx, "with-nowhere", metav1.GetOptions{})
	require.NoError(t, err)
	assert.NotEqual(t, corev1.PodRunning, other.Status.Phase, "no provisioner, no volume, no pod")
	c, err := cs.CoreV1().PersistentVolumeClaims("default").Get(ctx, "claim-nowhere", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, corev1.ClaimPending, c.Status.Phase)

	// Reclaim policy Delete: once the claim is gone, so is the volume (the EBS volume with it), as on EKS.
	zero := int64(0)
	require.NoError(t, cs.CoreV1().Pods("default").Delete(ctx, "with-ebs", metav1.DeleteOptions{GracePeriodSeconds: &zero}))
	require.NoError(t, cs.CoreV1().PersistentVolumeClaims("default").Delete(ctx, "claim-ebs", metav1.DeleteOptions{}))
	require.Eventually(t, func() bool {
		_, err := cs.CoreV1().PersistentVolumes().Get(ctx, pv.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	}, 30*time.Second, 200*time.Millisecond, "the released volume is deleted")
}

func claimPod(t *testing.T, cs kubernetes.Interface, class string) {
	t.Helper()
	ctx := context.Background()
	_, err := cs.CoreV1().PersistentVolumeClaims("default").Create(ctx, &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "claim-" + class},
		Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: &class, AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = cs.CoreV1().Pods("default").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "with-" + class},
		Spec: corev1.PodSpec{
			NodeSelector: map[string]string{"node-role.mlops.io/system": "true"},
			Containers:   []corev1.Container{{Name: "c", Image: "app", VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}}},
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "claim-" + class}}}},
		},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
}
