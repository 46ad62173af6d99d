package engine

import (
	"testing"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"

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
