// Package node holds what every cluster backend does with Node objects: register them as a kubelet would, and
// wait for them to be Ready.
package node

import (
	"context"
	"fmt"
	"maps"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/shape"
)

// CreateNodes creates the Node objects for nodes, adding the given extra annotations (e.g. the one that tells
// kwok to manage them). Capacity and allocatable travel in the created status, as a kubelet registers them.
func CreateNodes(ctx context.Context, cs kubernetes.Interface, nodes []shape.Node, annotations map[string]string) error {
	for _, n := range nodes {
		obj := n.Object()
		maps.Copy(obj.Annotations, annotations)
		if _, err := cs.CoreV1().Nodes().Create(ctx, obj, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create node %s: %w", n.Name, err)
		}
	}
	return nil
}

// WaitNodesReady waits until exactly want nodes exist and all of them are Ready.
func WaitNodesReady(ctx context.Context, cs kubernetes.Interface, want int) error {
	var last string
	err := wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		list, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{ResourceVersion: "0"})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		ready := 0
		for i := range list.Items {
			if Ready(&list.Items[i]) {
				ready++
			}
		}
		last = fmt.Sprintf("%d of %d nodes Ready, %d wanted", ready, len(list.Items), want)
		return ready == want && len(list.Items) == want, nil
	})
	if err != nil {
		return fmt.Errorf("wait for nodes Ready (%s): %w", last, err)
	}
	return nil
}

// WaitNamedNodesReady waits until every named node exists and is Ready.
func WaitNamedNodesReady(ctx context.Context, cs kubernetes.Interface, names []string) error {
	err := wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		for _, n := range names {
			node, err := cs.CoreV1().Nodes().Get(ctx, n, metav1.GetOptions{})
			if err != nil || !Ready(node) {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("wait for nodes %v Ready: %w", names, err)
	}
	return nil
}

// Ready reports whether the node's Ready condition is True and the node lifecycle controller has lifted
// its not-ready/unreachable taints, so pods can land on it.
func Ready(n *corev1.Node) bool {
	for _, t := range n.Spec.Taints {
		if t.Key == corev1.TaintNodeNotReady || t.Key == corev1.TaintNodeUnreachable {
			return false
		}
	}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
