package nightly

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/platform"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/smoke"
)

// workflow returns a copy of a workflow manifest's object as the platform model holds it (the GitOps Bridge's
// names substituted).
func workflow(p *platform.Platform, kind, name string) (*unstructured.Unstructured, error) {
	for _, o := range p.Objects {
		if o.GetKind() == kind && o.GetName() == name {
			return o.DeepCopy(), nil
		}
	}
	return nil, fmt.Errorf("no %s %s in the workflows", kind, name)
}

// CommitUnderTest is the commit the root Application tracks: HARNESS_COMMIT (CI sets it to the pushed commit), or
// the repository's HEAD.
func CommitUnderTest(t *testing.T, root string) string {
	t.Helper()
	if c := os.Getenv("HARNESS_COMMIT"); c != "" {
		return c
	}
	out, err := exec.Command("git", "-C", root, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatalf("the commit under test: set HARNESS_COMMIT or run from a git checkout: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// releaseAWSResources deletes what the platform created on the cluster that holds AWS resources outside
// Terraform's state — Argo CD's Applications (their workloads), the workflow custom resources, Services of type
// LoadBalancer (ELBs) and PersistentVolumeClaims (EBS volumes) — and waits until their load balancers and volumes
// are gone, so that `terraform destroy` neither blocks on them (VPC dependencies) nor leaves them behind.
//
// Karpenter's instances are outside Terraform's state too: its NodePools go first, while its controller still runs
// (before its Application is deleted), so that it terminates the instances of their NodeClaims; the NodeClaims are
// waited for before anything else goes.
func releaseAWSResources(ctx context.Context, cs kubernetes.Interface, dyn dynamic.Interface, poll time.Duration) error {
	bg := metav1.DeletePropagationForeground
	del := metav1.DeleteOptions{PropagationPolicy: &bg}
	var errs []error
	nodePools := schema.GroupVersionResource{Group: "karpenter.sh", Version: "v1", Resource: "nodepools"}
	nodeClaims := schema.GroupVersionResource{Group: "karpenter.sh", Version: "v1", Resource: "nodeclaims"}
	applications := schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "applications"}
	// Argo CD first stops syncing (selfHeal would recreate the NodePools, and the evicted GPU pods would get new
	// NodeClaims); its Applications are deleted only after Karpenter has terminated its instances.
	if apps, err := dyn.Resource(applications).Namespace("").List(ctx, metav1.ListOptions{}); err == nil {
		for _, a := range apps.Items {
			patch := []byte(`{"spec":{"syncPolicy":{"automated":null}}}`)
			if _, err := dyn.Resource(applications).Namespace(a.GetNamespace()).Patch(ctx, a.GetName(), types.MergePatchType, patch, metav1.PatchOptions{}); err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("stop Argo CD syncing %s: %w", a.GetName(), err))
			}
		}
	} else if !meta.IsNoMatchError(err) && !apierrors.IsNotFound(err) {
		errs = append(errs, fmt.Errorf("list Argo CD Applications: %w", err))
	}
	if list, err := dyn.Resource(nodePools).List(ctx, metav1.ListOptions{}); err != nil && !meta.IsNoMatchError(err) && !apierrors.IsNotFound(err) {
		errs = append(errs, fmt.Errorf("list Karpenter NodePools: %w", err))
	} else if err == nil {
		for _, o := range list.Items {
			if err := dyn.Resource(nodePools).Delete(ctx, o.GetName(), del); err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, err)
			}
		}
		err := wait.PollUntilContextTimeout(ctx, poll, 15*time.Minute, true, func(ctx context.Context) (bool, error) {
			claims, err := dyn.Resource(nodeClaims).List(ctx, metav1.ListOptions{})
			return err == nil && len(claims.Items) == 0, nil
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("Karpenter's NodeClaims (EC2 instances) still there 15 minutes after their NodePools were deleted: %w", err))
		}
	}
	for _, gvr := range []schema.GroupVersionResource{
		{Group: "argoproj.io", Version: "v1alpha1", Resource: "applications"},
		smoke.RayJobs, smoke.InferenceServices, {Group: "ray.io", Version: "v1", Resource: "rayservices"},
	} {
		list, err := dyn.Resource(gvr).Namespace("").List(ctx, metav1.ListOptions{})
		if err != nil {
			continue // the kind is not served: nothing of it to delete
		}
		for _, o := range list.Items {
			if err := dyn.Resource(gvr).Namespace(o.GetNamespace()).Delete(ctx, o.GetName(), del); err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, err)
			}
		}
	}
	svcs, err := cs.CoreV1().Services("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, s := range svcs.Items {
		if s.Spec.Type == corev1.ServiceTypeLoadBalancer {
			if err := cs.CoreV1().Services(s.Namespace).Delete(ctx, s.Name, del); err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, err)
			}
		}
	}
	pvcs, err := cs.CoreV1().PersistentVolumeClaims("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, c := range pvcs.Items {
		if err := cs.CoreV1().PersistentVolumeClaims(c.Namespace).Delete(ctx, c.Name, del); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	// The EBS CSI driver deletes a Delete-policy volume once its claim is gone; the cloud controller removes the
	// load balancer once its Service is gone.
	err = wait.PollUntilContextTimeout(ctx, poll, 15*time.Minute, true, func(ctx context.Context) (bool, error) {
		pvs, err := cs.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		svcs, err := cs.CoreV1().Services("").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		lbs := 0
		for _, s := range svcs.Items {
			if s.Spec.Type == corev1.ServiceTypeLoadBalancer {
				lbs++
			}
		}
		return len(pvs.Items) == 0 && lbs == 0, nil
	})
	return errors.Join(append(errs, err)...)
}
