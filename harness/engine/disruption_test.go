package engine

import (
	"testing"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestWorkloadOfNamesTheController: a ReplicaSet's pod is named by its Deployment (the pod-template-hash suffix),
// other controllers as themselves, a bare pod as itself; a ReplicaSet whose name does not end in the hash stays one.
func TestWorkloadOfNamesTheController(t *testing.T) {
	yes := true
	pod := func(kind, owner, hash string) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "flyte", Name: "p", Labels: map[string]string{}}}
		if kind != "" {
			p.OwnerReferences = []metav1.OwnerReference{{Kind: kind, Name: owner, Controller: &yes}}
		}
		if hash != "" {
			p.Labels["pod-template-hash"] = hash
		}
		return p
	}
	assert.Equal(t, "Deployment flyte/flyte-flyte-binary", workloadOf(pod("ReplicaSet", "flyte-flyte-binary-5d9c7b", "5d9c7b")))
	assert.Equal(t, "ReplicaSet flyte/web", workloadOf(pod("ReplicaSet", "web", "")))
	assert.Equal(t, "StatefulSet flyte/flyte-db", workloadOf(pod("StatefulSet", "flyte-db", "")))
	assert.Equal(t, "Pod flyte/p", workloadOf(pod("", "", "")))
}
