package karpenter

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func event(name, pod, reason, msg string, at time.Time, component string) *corev1.Event {
	return &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: name, Namespace: "ml"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "ml", Name: pod},
		Reason:         reason, Message: msg, Source: corev1.EventSource{Component: component},
		LastTimestamp: metav1.NewTime(at),
	}
}

// TestWhy: a pod's latest word from Karpenter is its reason; the scheduler's events are not Karpenter's; a
// FailedScheduling on record leads a later nomination (Karpenter repeats FailedScheduling for a pod only after 5
// minutes, so a nomination another pod took stays its latest word for that long).
func TestWhy(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	limits := "Failed to schedule pod, all available instance types exceed limits for nodepool (NodePool=gpu)"
	cs := fake.NewClientset(
		// a: nominated, then the node went to another pod; its earlier failure leads.
		event("a1", "a", "FailedScheduling", limits, t0, "karpenter"),
		event("a2", "a", "Nominated", "Pod should schedule on: nodeclaim/gpu-x", t0.Add(20*time.Second), "karpenter"),
		// b: failed after a nomination: the failure alone.
		event("b1", "b", "Nominated", "Pod should schedule on: nodeclaim/gpu-y", t0, "karpenter"),
		event("b2", "b", "FailedScheduling", limits, t0.Add(time.Second), "karpenter"),
		// c: only nominated (the claim in flight).
		event("c1", "c", "Nominated", "Pod should schedule on: nodeclaim/gpu-z", t0, "karpenter"),
		// d: the scheduler's word is not Karpenter's.
		event("d1", "d", "FailedScheduling", "0/3 nodes are available", t0, "default-scheduler"),
	)
	got := Why(t.Context(), cs)
	assert.Equal(t, map[string]string{
		"ml/a": limits + "; later: Pod should schedule on: nodeclaim/gpu-x",
		"ml/b": limits,
		"ml/c": "Pod should schedule on: nodeclaim/gpu-z",
	}, got)
}
