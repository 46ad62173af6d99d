package engine

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/deploy"
)

// TestProbesPreemptNothingOnARealCluster: on the emulated cluster a probe keeps its workload's priority class
// (preemption is part of what placement judges); on EKS it has none, so it cannot evict the platform's pods.
func TestProbesPreemptNothingOnARealCluster(t *testing.T) {
	w := deploy.Workload{Name: "train-mlp/gpu", Spec: corev1.PodSpec{PriorityClassName: "ml-training",
		Containers: []corev1.Container{{Name: "worker"}}}}
	assert.Equal(t, "ml-training", podSpec(w, true).PriorityClassName)
	assert.Empty(t, podSpec(w, false).PriorityClassName)
}

// TestSigChangeNamesWhatMoved: a settle that times out because placements keep changing says which pods moved.
func TestSigChangeNamesWhatMoved(t *testing.T) {
	from := signature([]Placement{{Pod: "a", Node: "gpu-0"}, {Pod: "b", Node: "gpu-1"}, {Pod: "c"}})
	to := signature([]Placement{{Pod: "a", Node: "gpu-0"}, {Pod: "b", Node: "gpu-3"}, {Pod: "c", Node: "gpu-4"}})
	assert.Equal(t, "-b=gpu-1 -c= +b=gpu-3 +c=gpu-4", sigChange(from, to))
}

// TestATerminatingPodOnAVanishedNodeIsNotWaitedFor: a terminating pod holds its resources only while its node
// exists; after a roll removed the node, its pods wait for the pod garbage collector alone and a verdict does not
// wait for them. A terminating pod on a node that exists is still waited for.
func TestATerminatingPodOnAVanishedNodeIsNotWaitedFor(t *testing.T) {
	now := metav1.NewTime(time.Now())
	pod := func(name, node string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "kube-system", Labels: map[string]string{LabelProbe: "ds"},
			DeletionTimestamp: &now, Finalizers: []string{"kwok.x-k8s.io/fake"}}, Spec: corev1.PodSpec{NodeName: node}}
	}
	cs := fake.NewClientset(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "system-2"},
		Status: corev1.NodeStatus{Allocatable: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("35")}}}, pod("on-gone", "system-0"), pod("on-live", "system-2"))
	tr := &tracked{probes: map[string]deploy.Workload{"ds": {Name: "ds", DaemonSet: true}}, staleSince: map[string]time.Time{}, rejectedSince: map[string]time.Time{}}
	_, _, st, err := placements(context.Background(), cs, tr)
	require.NoError(t, err)
	assert.Equal(t, 1, st.terminating)
	assert.Equal(t, []string{"kube-system/on-live on system-2"}, st.terminatingPods)
}
