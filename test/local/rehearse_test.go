package local

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/gpu"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/rehearse"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/test/testenv"
)

func deployment(t *testing.T, cs kubernetes.Interface, ns, name string, replicas int32, selector map[string]string, gpus int64) {
	t.Helper()
	c := corev1.Container{Name: "main", Image: "registry.k8s.io/pause:3.10"}
	if gpus > 0 {
		q := *resource.NewQuantity(gpus, resource.DecimalSI)
		c.Resources = corev1.ResourceRequirements{Requests: corev1.ResourceList{gpu.Resource: q}, Limits: corev1.ResourceList{gpu.Resource: q}}
	}
	labels := map[string]string{"app": name}
	_, err := cs.AppsV1().Deployments(ns).Create(t.Context(), &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{NodeSelector: selector, Containers: []corev1.Container{c}}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
}

func pdb(t *testing.T, cs kubernetes.Interface, ns, app string, maxUnavailable int) {
	t.Helper()
	mu := intstr.FromInt32(int32(maxUnavailable))
	_, err := cs.PolicyV1().PodDisruptionBudgets(ns).Create(t.Context(), &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: app},
		Spec:       policyv1.PodDisruptionBudgetSpec{MaxUnavailable: &mu, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
}

func waitAvailable(t *testing.T, cs kubernetes.Interface, ns, name string) {
	t.Helper()
	require.Eventually(t, func() bool {
		d, err := cs.AppsV1().Deployments(ns).Get(t.Context(), name, metav1.GetOptions{})
		return err == nil && d.Status.ReadyReplicas == *d.Spec.Replicas
	}, time.Minute, 100*time.Millisecond, "%s/%s available", ns, name)
}

// TestRollNodeGroupHonoursBudgets rolls node groups as EKS managed node groups roll them: a GPU training
// Deployment with a budget allowing one disruption moves to the new GPU node (surged at the target version) and
// the old node goes; a system component whose budget has maxUnavailable: 0 fails the roll naming the budget, as
// EKS's PodEvictionFailure does, and the result says what force would do.
func TestRollNodeGroupHonoursBudgets(t *testing.T) {
	c, cs := testenv.MustEmbedded(t, testenv.MustShape(t, "local"))
	createNamespace(t, t.Context(), cs, "ml-training")
	createNamespace(t, t.Context(), cs, "platform")
	deployment(t, cs, "ml-training", "trainer", 1, map[string]string{"node-role.mlops.io/gpu": "true"}, 1)
	pdb(t, cs, "ml-training", "trainer", 1)
	deployment(t, cs, "platform", "gatekeeper", 2, map[string]string{"node-role.mlops.io/system": "true"}, 0)
	pdb(t, cs, "platform", "gatekeeper", 0)
	waitAvailable(t, cs, "ml-training", "trainer")
	waitAvailable(t, cs, "platform", "gatekeeper")

	r := rehearse.RollNodeGroup(t.Context(), cs, c, rehearse.Roll{Group: "gpu", KubeletVersion: "v1.36.0", Progress: t.Logf})
	require.Equal(t, result.Passed, r.Status, "%s %v", r.Message, r.Details)
	assert.Contains(t, r.Message, "1 GPU pod(s) running on the new nodes")
	nodes, err := cs.CoreV1().Nodes().List(t.Context(), metav1.ListOptions{LabelSelector: "eks.amazonaws.com/nodegroup=gpu"})
	require.NoError(t, err)
	require.Len(t, nodes.Items, 1, "the old GPU node is gone, the new one stays")
	assert.Equal(t, "v1.36.0", nodes.Items[0].Status.NodeInfo.KubeletVersion)

	r = rehearse.RollNodeGroup(t.Context(), cs, c, rehearse.Roll{Group: "system", KubeletVersion: "v1.36.0", EvictionTimeout: 3 * time.Second, Progress: t.Logf})
	require.Equal(t, result.Failed, r.Status, "%s", r.Message)
	assert.Contains(t, r.Message, "PodEvictionFailure")
	assert.Contains(t, r.Message, "PodDisruptionBudget platform/gatekeeper (maxUnavailable: 0) allows 0 disruption(s)")
	assert.Contains(t, strings.Join(r.Details, "\n"), "with force")
}
