// Package rollout rolls node groups as EKS managed node group updates do — surge new nodes at the target
// version, cordon the old ones, drain them through the Eviction API honouring PodDisruptionBudgets, wait for the
// workloads to be placed again, remove the old nodes — for `harness rehearse` and the rollNodeGroup scenario step.
package rollout

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/gpu"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/shape"
)

// Nodes is what a node group roll needs of a cluster backend (the embedded cluster implements it).
type Nodes interface {
	// SurgeGroup adds n Ready nodes to the group whose kubelets report kubeletVersion.
	SurgeGroup(ctx context.Context, group string, n int, kubeletVersion string) ([]string, error)
	// RemoveNode removes a node as its instance's termination does.
	RemoveNode(ctx context.Context, name string) error
}

// Roll says how to roll one node group.
type Roll struct {
	Group string
	// KubeletVersion is what the new nodes report (v1.36.0).
	KubeletVersion string
	// EvictionTimeout is how long an eviction a PodDisruptionBudget refuses is retried; EKS retries for 15
	// minutes, then fails the update with PodEvictionFailure. Default 30 s (nothing here changes a budget by itself).
	EvictionTimeout time.Duration
	// PlaceTimeout bounds the wait for the workloads to be placed again (default 2 min).
	PlaceTimeout time.Duration
	// Force is EKS's forced update: a pod whose eviction a budget refuses is deleted anyway.
	Force bool
	// Progress receives one line per phase; nil discards.
	Progress func(format string, args ...any)
}

// NameRoll is the result name of rolling a group.
func NameRoll(group string) string { return "rehearse/roll/" + group }

// Report is what a roll did and saw; check.Roll judges it.
type Report struct {
	Group, KubeletVersion string
	// Old are the group's nodes before the roll, Fresh the nodes surged at KubeletVersion.
	Old, Fresh []string
	// Evicted counts the pods drained through the Eviction API, Forced those deleted past their budget (Force).
	Evicted, Forced int
	// Available are the Deployments and StatefulSets available before the roll (and, if it completed, after).
	Available []string
	// GPUOnNew counts the GPU pods running on the new nodes once the old ones were drained.
	GPUOnNew int
	Duration time.Duration
	// Err is where the roll stopped; nil when it completed and the old nodes are gone.
	Err error
	// Blocked is set when a PodDisruptionBudget kept refusing an eviction past EvictionTimeout (EKS's
	// PodEvictionFailure); Err then says which pod and which budgets.
	Blocked *Blocked
}

// Blocked is an eviction a budget refused for the whole EvictionTimeout.
type Blocked struct {
	// Node is the node being drained, Pod the pod (namespace/name) whose eviction was refused.
	Node, Pod string
	// Budgets are the PodDisruptionBudgets selecting the pod (namespace/name).
	Budgets []string
}

// RollNodeGroup rolls a node group as an EKS managed node group update does: surge as many new nodes as the
// group has (at the target kubelet version), cordon the old ones, drain them through the Eviction API honouring
// PodDisruptionBudgets (DaemonSet and mirror pods stay), wait until every Deployment and StatefulSet that was
// available is available again, check that GPU pods landed on the new GPU nodes, and remove the old nodes. A
// budget that keeps refusing an eviction stops the roll naming it, as EKS's PodEvictionFailure does; like a failed
// EKS update, a stopped roll leaves the surged nodes and the cordoned old ones as they are.
func RollNodeGroup(ctx context.Context, cs kubernetes.Interface, nodes Nodes, o Roll) (rep Report) {
	rep = Report{Group: o.Group, KubeletVersion: o.KubeletVersion}
	t0 := time.Now()
	defer func() { rep.Duration = time.Since(t0) }()
	if o.EvictionTimeout == 0 {
		o.EvictionTimeout = 30 * time.Second
	}
	if o.PlaceTimeout == 0 {
		o.PlaceTimeout = 2 * time.Minute
	}
	progress := o.Progress
	if progress == nil {
		progress = func(string, ...any) {}
	}
	stop := func(format string, args ...any) Report {
		rep.Err = fmt.Errorf(format, args...)
		return rep
	}
	list, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: shape.LabelNodeGroup + "=" + o.Group})
	if err != nil {
		return stop("list nodes: %w", err)
	}
	for _, n := range list.Items {
		rep.Old = append(rep.Old, n.Name)
	}
	if len(rep.Old) == 0 {
		return rep
	}
	old := rep.Old
	if rep.Available, err = available(ctx, cs); err != nil {
		return stop("%w", err)
	}
	fresh, err := nodes.SurgeGroup(ctx, o.Group, len(old), o.KubeletVersion)
	if err != nil {
		return stop("surge %d node(s) at %s: %w", len(old), o.KubeletVersion, err)
	}
	rep.Fresh = fresh
	progress("%s: surged %v at %s; cordoning %v", o.Group, fresh, o.KubeletVersion, old)
	for _, n := range old {
		patch := []byte(`{"spec":{"unschedulable":true}}`)
		if _, err := cs.CoreV1().Nodes().Patch(ctx, n, types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
			return stop("cordon %s: %w", n, err)
		}
	}
	for _, n := range old {
		pods, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + n})
		if err != nil {
			return stop("pods on %s: %w", n, err)
		}
		for _, p := range pods.Items {
			if daemonOrMirror(&p) || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
				continue
			}
			f, blocked, err := evict(ctx, cs, &p, o)
			if blocked != nil {
				blocked.Node = n
				rep.Blocked = blocked
				return stop("%w", err)
			}
			if err != nil {
				return stop("drain %s: %w", n, err)
			}
			rep.Evicted++
			if f {
				rep.Forced++
			}
		}
	}
	progress("%s: %d pod(s) evicted from the old nodes; waiting for the workloads to be placed again", o.Group, rep.Evicted)
	// First the evicted pods must be gone (a controller's ready count lags the eviction), then every workload
	// that was available must be again — its pods can only be on the new nodes now.
	if err := waitDrained(ctx, cs, old, o.PlaceTimeout); err != nil {
		return stop("draining node group %s: %w", o.Group, err)
	}
	if err := waitAvailable(ctx, cs, rep.Available, o.PlaceTimeout); err != nil {
		return stop("after draining node group %s: %w", o.Group, err)
	}
	if rep.GPUOnNew, err = gpuOnNew(ctx, cs, fresh, old); err != nil {
		return stop("%w", err)
	}
	for _, n := range old {
		if err := nodes.RemoveNode(ctx, n); err != nil {
			return stop("remove old node %s: %w", n, err)
		}
	}
	return rep
}

func daemonOrMirror(p *corev1.Pod) bool {
	if _, ok := p.Annotations[corev1.MirrorPodAnnotationKey]; ok {
		return true
	}
	for _, r := range p.OwnerReferences {
		if r.Kind == "DaemonSet" {
			return true
		}
	}
	return false
}

// evict evicts p through the Eviction API, retrying while a budget refuses (429); past the timeout it names the
// budget(s) — or, with force, deletes the pod and reports forced.
// blocked is set (with err saying why) only when a budget refused the eviction for the whole timeout.
func evict(ctx context.Context, cs kubernetes.Interface, p *corev1.Pod, o Roll) (forced bool, blocked *Blocked, err error) {
	ev := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace}}
	var last error
	werr := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, o.EvictionTimeout, true, func(ctx context.Context) (bool, error) {
		err := cs.PolicyV1().Evictions(p.Namespace).Evict(ctx, ev)
		switch {
		case err == nil, apierrors.IsNotFound(err):
			return true, nil
		case apierrors.IsTooManyRequests(err):
			last = err
			return false, nil
		default:
			return false, err
		}
	})
	if werr == nil {
		return false, nil, nil
	}
	if last == nil {
		return false, nil, fmt.Errorf("evict pod %s/%s: %w", p.Namespace, p.Name, werr)
	}
	if o.Force {
		if err := cs.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return true, nil, err
		}
		return true, nil, nil
	}
	names, described := blockingPDBs(ctx, cs, p)
	return false, &Blocked{Pod: p.Namespace + "/" + p.Name, Budgets: names}, fmt.Errorf("pod %s/%s cannot be evicted for %s: %s (the API server: %v)", p.Namespace, p.Name, o.EvictionTimeout, described, last)
}

// blockingPDBs names the budgets that select p (namespace/name), and describes them with their settings.
func blockingPDBs(ctx context.Context, cs kubernetes.Interface, p *corev1.Pod) (names []string, described string) {
	pdbs, err := cs.PolicyV1().PodDisruptionBudgets(p.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, "no budget could be listed"
	}
	var out []string
	for _, b := range pdbs.Items {
		sel, err := metav1.LabelSelectorAsSelector(b.Spec.Selector)
		if err != nil || !sel.Matches(labels.Set(p.Labels)) {
			continue
		}
		set := ""
		switch {
		case b.Spec.MaxUnavailable != nil:
			set = "maxUnavailable: " + b.Spec.MaxUnavailable.String()
		case b.Spec.MinAvailable != nil:
			set = "minAvailable: " + b.Spec.MinAvailable.String()
		}
		names = append(names, b.Namespace+"/"+b.Name)
		out = append(out, fmt.Sprintf("PodDisruptionBudget %s/%s (%s) allows %d disruption(s)", b.Namespace, b.Name, set, b.Status.DisruptionsAllowed))
	}
	if len(out) == 0 {
		return nil, "no budget selects it"
	}
	return names, strings.Join(out, "; ")
}

// available lists the Deployments and StatefulSets with every replica ready.
func available(ctx context.Context, cs kubernetes.Interface) ([]string, error) {
	var out []string
	deps, err := cs.AppsV1().Deployments("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	for _, d := range deps.Items {
		if d.Spec.Replicas != nil && *d.Spec.Replicas > 0 && d.Status.ReadyReplicas >= *d.Spec.Replicas {
			out = append(out, "Deployment "+d.Namespace+"/"+d.Name)
		}
	}
	sts, err := cs.AppsV1().StatefulSets("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	for _, s := range sts.Items {
		if s.Spec.Replicas != nil && *s.Spec.Replicas > 0 && s.Status.ReadyReplicas >= *s.Spec.Replicas {
			out = append(out, "StatefulSet "+s.Namespace+"/"+s.Name)
		}
	}
	sort.Strings(out)
	return out, nil
}

// waitAvailable waits until every workload of want is available again (its pods placed on the new nodes).
func waitAvailable(ctx context.Context, cs kubernetes.Interface, want []string, timeout time.Duration) error {
	var missing []string
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		now, err := available(ctx, cs)
		if err != nil {
			return false, nil
		}
		have := map[string]bool{}
		for _, w := range now {
			have[w] = true
		}
		missing = missing[:0]
		for _, w := range want {
			if !have[w] {
				missing = append(missing, w)
			}
		}
		return len(missing) == 0, nil
	})
	if err != nil {
		pending := pendingReasons(context.WithoutCancel(ctx), cs)
		return fmt.Errorf("not available again within %s: %s%s", timeout, strings.Join(missing, ", "), pending)
	}
	return nil
}

func pendingReasons(ctx context.Context, cs kubernetes.Interface) string {
	pods, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "status.phase=Pending"})
	if err != nil || len(pods.Items) == 0 {
		return ""
	}
	var out []string
	for _, p := range pods.Items {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
				out = append(out, fmt.Sprintf("%s/%s: %s", p.Namespace, p.Name, c.Message))
			}
		}
	}
	if len(out) == 0 {
		return ""
	}
	return "; pending: " + strings.Join(out, "; ")
}

// gpuOnNew checks that no pod requesting GPUs is left on an old node, and counts those on the new ones.
func gpuOnNew(ctx context.Context, cs kubernetes.Interface, fresh, old []string) (int, error) {
	isNew, isOld := map[string]bool{}, map[string]bool{}
	for _, n := range fresh {
		isNew[n] = true
	}
	for _, n := range old {
		isOld[n] = true
	}
	pods, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, err
	}
	onNew := 0
	for _, p := range pods.Items {
		if p.Spec.NodeName == "" || p.DeletionTimestamp != nil || !requestsGPU(&p) || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		if isOld[p.Spec.NodeName] {
			return 0, fmt.Errorf("GPU pod %s/%s still on old node %s", p.Namespace, p.Name, p.Spec.NodeName)
		}
		if isNew[p.Spec.NodeName] {
			onNew++
		}
	}
	return onNew, nil
}

func requestsGPU(p *corev1.Pod) bool {
	for _, c := range p.Spec.Containers {
		if q, ok := c.Resources.Requests[gpu.Resource]; ok && !q.IsZero() {
			return true
		}
		if q, ok := c.Resources.Limits[gpu.Resource]; ok && !q.IsZero() {
			return true
		}
	}
	return false
}

// waitDrained waits until no pod but DaemonSet and mirror pods is left on the nodes.
func waitDrained(ctx context.Context, cs kubernetes.Interface, nodes []string, timeout time.Duration) error {
	var left []string
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		left = left[:0]
		for _, n := range nodes {
			pods, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + n})
			if err != nil {
				return false, nil
			}
			for _, p := range pods.Items {
				if !daemonOrMirror(&p) && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
					left = append(left, p.Namespace+"/"+p.Name+" on "+n)
				}
			}
		}
		return len(left) == 0, nil
	})
	if err != nil {
		return fmt.Errorf("pods still on the old nodes after %s: %s", timeout, strings.Join(left, ", "))
	}
	return nil
}
