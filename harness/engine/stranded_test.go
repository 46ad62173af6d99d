package engine

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/gpu"
)

// TestStrandedGPUClaims: a NodeClaim counts as stranded (not in flight for Karpenter's settle wait) only when its
// GPU node has been Ready a while, advertises no GPUs and no NVIDIA device plugin pod is on it or made for it. Without
// the rule a platform whose device plugin leaves Karpenter's GPU nodes out waited the full 3 minutes for a verdict.
func TestStrandedGPUClaims(t *testing.T) {
	node := func(name, instance string, readyFor time.Duration, gpus int64) *corev1.Node {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelInstanceTypeStable: instance}},
			Status: corev1.NodeStatus{Allocatable: corev1.ResourceList{}, Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady,
				Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(time.Now().Add(-readyFor))}}}}
		if gpus > 0 {
			n.Status.Allocatable[gpu.Resource] = *resource.NewQuantity(gpus, resource.DecimalSI)
		}
		return n
	}
	dsRef := []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "DaemonSet", Name: "nvidia-device-plugin", UID: "u", Controller: ptrTo(true)}}
	pluginOn := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "plugin-a", Namespace: "nvidia", OwnerReferences: dsRef},
		Spec: corev1.PodSpec{NodeName: "with-plugin"}}
	pluginFor := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "plugin-b", Namespace: "nvidia", OwnerReferences: dsRef},
		Spec: corev1.PodSpec{Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"plugin-pending"}}}}}}}}}}
	other := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "kube-system",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "DaemonSet", Name: "kube-proxy", UID: "v", Controller: ptrTo(true)}}},
		Spec: corev1.PodSpec{NodeName: "no-plugin"}}
	cs := fake.NewClientset(
		node("no-plugin", "g4dn.xlarge", time.Minute, 0),
		node("with-plugin", "g4dn.xlarge", time.Minute, 0),
		node("plugin-pending", "g4dn.xlarge", time.Minute, 0),
		node("just-ready", "g4dn.xlarge", 2*time.Second, 0),
		node("advertising", "g4dn.xlarge", time.Minute, 1),
		node("cpu", "t3.large", time.Minute, 0),
		pluginOn, pluginFor, other)
	e := &Env{clientset: cs}
	stranded := e.strandedGPUClaims(context.Background())
	claim := func(nodeName string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{}}
		if nodeName != "" {
			_ = unstructured.SetNestedField(u.Object, nodeName, "status", "nodeName")
		}
		return u
	}
	for n, want := range map[string]bool{
		"no-plugin":      true,  // a GPU node no device plugin covers: never initialized
		"with-plugin":    false, // the plugin runs there: about to advertise
		"plugin-pending": false, // the DaemonSet made a pod for it
		"just-ready":     false, // the DaemonSet controller may not have seen it yet
		"advertising":    false,
		"cpu":            false,
		"":               false, // not registered yet: launching
		"gone":           false,
	} {
		assert.Equal(t, want, stranded(claim(n)), "claim on node %q", n)
	}
}

func ptrTo[T any](v T) *T { return &v }
