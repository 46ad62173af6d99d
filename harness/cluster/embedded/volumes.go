package embedded

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
)

// EBSCSIDriver is the provisioner of the EKS aws-ebs-csi-driver add-on (terraform/modules/eks/addons.tf).
const EBSCSIDriver = "ebs.csi.aws.com"

// selectedNode is what the scheduler's volume binding sets on a WaitForFirstConsumer claim once it picked a node.
const selectedNode = "volume.kubernetes.io/selected-node"

// volumeProvisioner plays the EBS CSI driver's provisioner on the emulated cluster (runAddons): a claim of a
// StorageClass provisioned by ebs.csi.aws.com, once the scheduler has selected a node for it, gets a
// PersistentVolume of its size pinned to that node (as an EBS volume lives in the node's zone), which the
// persistent-volume controller binds. No data exists: kwok's pods execute nothing. Without it a StatefulSet with
// volume claims (Flyte's PostgreSQL in dev) would wait forever here while it runs on EKS.
type volumeProvisioner struct {
	cs      kubernetes.Interface
	claims  corelisters.PersistentVolumeClaimLister
	volumes corelisters.PersistentVolumeLister
	classes storagelisters.StorageClassLister
}

// reconcile provisions the claims waiting for a volume and deletes the released volumes, as read from the
// informers' caches.
func (v *volumeProvisioner) reconcile(ctx context.Context) error {
	claims, err := v.claims.List(labels.Everything())
	if err != nil {
		return err
	}
	for _, pvc := range claims {
		node := pvc.Annotations[selectedNode]
		if pvc.Status.Phase != corev1.ClaimPending || pvc.Spec.VolumeName != "" || node == "" || pvc.Spec.StorageClassName == nil {
			continue
		}
		sc, err := v.classes.Get(*pvc.Spec.StorageClassName)
		if err != nil || sc.Provisioner != EBSCSIDriver {
			continue
		}
		reclaim := corev1.PersistentVolumeReclaimDelete
		if sc.ReclaimPolicy != nil {
			reclaim = *sc.ReclaimPolicy
		}
		pv := &corev1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Name: "pvc-" + string(pvc.UID),
				Annotations: map[string]string{"pv.kubernetes.io/provisioned-by": EBSCSIDriver}},
			Spec: corev1.PersistentVolumeSpec{
				Capacity:                      corev1.ResourceList{corev1.ResourceStorage: pvc.Spec.Resources.Requests[corev1.ResourceStorage]},
				AccessModes:                   pvc.Spec.AccessModes,
				VolumeMode:                    pvc.Spec.VolumeMode,
				PersistentVolumeReclaimPolicy: reclaim,
				StorageClassName:              sc.Name,
				ClaimRef:                      &corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID},
				PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{
					Driver: EBSCSIDriver, VolumeHandle: "vol-" + strings.ReplaceAll(string(pvc.UID), "-", "")[:17], FSType: "ext4"}},
				NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
					MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpIn, Values: []string{node}}},
				}}}},
			},
		}
		if _, err := v.cs.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("claim %s/%s: %w", pvc.Namespace, pvc.Name, err)
		}
	}
	return v.deleteReleased(ctx)
}

// deleteReleased deletes, as the provisioner does with reclaim policy Delete, every volume it provisioned whose
// claim is gone (the EBS volume is deleted with it). Without it a deleted claim's volume stays forever, where on
// EKS it goes — the nightly's staged teardown waits for exactly that. A claim the cache does not hold is looked up
// on the API server before its volume goes.
func (v *volumeProvisioner) deleteReleased(ctx context.Context) error {
	pvs, err := v.volumes.List(labels.Everything())
	if err != nil {
		return err
	}
	for _, pv := range pvs {
		ref := pv.Spec.ClaimRef
		if pv.Annotations["pv.kubernetes.io/provisioned-by"] != EBSCSIDriver || pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete || ref == nil {
			continue
		}
		if claim, err := v.claims.PersistentVolumeClaims(ref.Namespace).Get(ref.Name); err == nil && claim.UID == ref.UID {
			continue // still claimed
		}
		claim, err := v.cs.CoreV1().PersistentVolumeClaims(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		switch {
		case err == nil && claim.UID == ref.UID:
			continue // still claimed
		case err != nil && !apierrors.IsNotFound(err):
			return err
		}
		if err := v.cs.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("released volume %s: %w", pv.Name, err)
		}
	}
	return nil
}
