package engine

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	resourcehelper "k8s.io/component-helpers/resource"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cluster/node"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/deploy"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/gpu"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/platform"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/shape"
)

// Probe objects carry these so they can be found and explained.
const (
	LabelProbe         = "mlops.io/probe"
	annotationWorkload = "mlops.io/workload"
)

// Placement is where one probe pod ended up.
type Placement struct {
	Workload deploy.Workload
	Pod      string
	Node     string
	Group    string
	// NodePool is the Karpenter NodePool that launched Node (empty for node-group nodes).
	NodePool string
	// GPUNode is true when Node's instance type has GPUs (node group or Karpenter node alike).
	GPUNode bool
	// Pending holds the scheduler's reason when the pod could not be placed.
	Pending string
	// Real is true for a pod an installed chart's controller created; false for a probe pod.
	Real bool
}

// tracked is what settle watches: probe pods (by the probe label) and the pods that installed charts'
// controllers really created (by the pods' controller owner: DaemonSet, StatefulSet, Job, or a ReplicaSet and
// its Deployment — selectors are not unique: the device plugin chart's DaemonSets share one).
type tracked struct {
	probes map[string]deploy.Workload // by probe name
	real   []realWorkload
	// staleSince is when a Pending GPU pod was first seen fitting a Ready node (a verdict to be revisited).
	staleSince map[string]time.Time
	// rejectedSince is when a workload's controller was first seen unable to create pods (quota, admission).
	rejectedSince map[string]time.Time
}

type realWorkload struct {
	w                     deploy.Workload
	kind, namespace, name string
	sel                   labels.Selector
}

// match finds the workload a pod belongs to, and the key its pods are counted under. deployments maps
// namespace/ReplicaSet to its Deployment's name.
func (t *tracked) match(p *corev1.Pod, deployments map[string]string) (deploy.Workload, string, bool, bool) {
	if name, ok := p.Labels[LabelProbe]; ok {
		w, ok := t.probes[name]
		return w, name, false, ok
	}
	owner := metav1.GetControllerOf(p)
	if owner == nil {
		return deploy.Workload{}, "", false, false
	}
	kind, name := owner.Kind, owner.Name
	if kind == "ReplicaSet" {
		if d, ok := deployments[p.Namespace+"/"+name]; ok {
			kind, name = "Deployment", d
		}
	}
	for _, r := range t.real {
		if r.kind == kind && r.namespace == p.Namespace && r.name == name {
			return r.w, "chart:" + r.w.Name, true, true
		}
	}
	return deploy.Workload{}, "", false, false
}

var invalid = regexp.MustCompile(`[^a-z0-9-]+`)

func ProbeName(w deploy.Workload) string {
	n := strings.Trim(invalid.ReplaceAllString(strings.ToLower(w.Name), "-"), "-")
	sum := fmt.Sprintf("%x", sha256.Sum256([]byte(w.Name)))[:6]
	if len(n) > 45 {
		n = n[:45]
	}
	return "probe-" + strings.Trim(n, "-") + "-" + sum
}

// podSpec keeps what decides placement (resources of containers and init containers, tolerations, node
// selection and affinity, topology spread, priority) and drops what would need the real application (images,
// volumes, service accounts, the RuntimeClass whose overhead admission would add). On a real cluster (EKS) the
// priority class is dropped: a probe of an ml-* workload must not preempt the platform's running pods of lower
// priority (its placement is then judged without preemption, which only makes it stricter).
func podSpec(w deploy.Workload, emulated bool) corev1.PodSpec {
	s := corev1.PodSpec{NodeSelector: w.Spec.NodeSelector, Affinity: w.Spec.Affinity, Tolerations: w.Spec.Tolerations,
		TopologySpreadConstraints: w.Spec.TopologySpreadConstraints}
	if emulated {
		s.PriorityClassName = w.Spec.PriorityClassName
	}
	for i, c := range w.Spec.InitContainers { // an init container's requests count when they exceed the containers'
		s.InitContainers = append(s.InitContainers, corev1.Container{Name: fmt.Sprintf("i%d", i), Image: "probe", Resources: c.Resources, RestartPolicy: c.RestartPolicy})
	}
	for i, c := range w.Spec.Containers {
		s.Containers = append(s.Containers, corev1.Container{Name: fmt.Sprintf("c%d", i), Image: "probe", Resources: c.Resources})
	}
	if len(s.Containers) == 0 {
		s.Containers = []corev1.Container{{Name: "c0", Image: "probe"}}
	}
	return s
}

// RunProbes creates, for every workload of the platform that no installed chart stands for, a Deployment (a
// DaemonSet for daemon sets) whose pods carry the workload's scheduling-relevant pod spec, and observes, for every
// installed upstream chart, the pods its controllers really created. The real scheduler places both (and preempts,
// by priority); it reports every pod's placement. Controllers recreate preempted pods, as the real operators would.
// This is how pod templates of custom resources (Ray groups, KServe predictors) are placed without their
// operators. Pods the API server rejects (quota, admission) are reported with the rejection.
func (e *Env) RunProbes(ctx context.Context, timeout time.Duration) ([]Placement, error) {
	cs := e.clientset
	t := &tracked{probes: map[string]deploy.Workload{}, staleSince: map[string]time.Time{}, rejectedSince: map[string]time.Time{}}
	for _, w := range e.Platform.Workloads {
		if w.App != "" && e.installed[w.App] != nil {
			continue // the chart itself is installed: its real pods are judged instead
		}
		if platform.IsEKSAddon(w) && !e.Cluster.Emulated() {
			continue // EKS runs the add-on itself: a probe would count its pods twice
		}
		name := ProbeName(w)
		t.probes[name] = w
		if _, err := EnsureNamespace(ctx, cs, w.Namespace); err != nil {
			return nil, err
		}
		labels := map[string]string{LabelProbe: name}
		meta := metav1.ObjectMeta{Name: name, Namespace: w.Namespace, Labels: labels, Annotations: map[string]string{annotationWorkload: w.Name}}
		tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: meta.Annotations}, Spec: podSpec(w, e.Cluster.Emulated())}
		var err error
		if w.DaemonSet {
			_, err = cs.AppsV1().DaemonSets(w.Namespace).Create(ctx, &appsv1.DaemonSet{ObjectMeta: meta,
				Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl}}, metav1.CreateOptions{})
		} else {
			_, err = cs.AppsV1().Deployments(w.Namespace).Create(ctx, &appsv1.Deployment{ObjectMeta: meta,
				Spec: appsv1.DeploymentSpec{Replicas: ptr.To(int32(w.Replicas)), Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl}}, metav1.CreateOptions{})
		}
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("create probe for %s: %w", w.Name, err)
		}
	}
	apps := make([]string, 0, len(e.installed))
	for a := range e.installed {
		apps = append(apps, a)
	}
	sort.Strings(apps)
	for _, a := range apps {
		for _, w := range e.installed[a] {
			if w.Selector == nil {
				continue
			}
			sel, err := metav1.LabelSelectorAsSelector(w.Selector)
			if err != nil {
				return nil, fmt.Errorf("%s: selector: %w", w.Name, err)
			}
			parts := strings.SplitN(w.Name, "/", 3) // Kind/namespace/name
			if len(parts) != 3 {
				continue
			}
			t.real = append(t.real, realWorkload{w: w, kind: parts[0], namespace: w.Namespace, name: parts[2], sel: sel})
		}
	}
	e.tracked = t
	return settle(ctx, cs, t, timeout)
}

// Watched lists every workload the last RunProbes watched: probes, and installed charts' controllers (whether
// or not they made a pod), sorted by name.
func (e *Env) Watched() []deploy.Workload {
	if e.tracked == nil {
		return nil
	}
	var out []deploy.Workload
	for _, w := range e.tracked.probes {
		out = append(out, w)
	}
	for _, r := range e.tracked.real {
		out = append(out, r.w)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// ChartWorkloads are the workloads (controllers' pod templates) of the installed upstream charts, by
// Application name.
func (e *Env) ChartWorkloads() map[string][]deploy.Workload { return e.installed }

// settle waits until every tracked pod is on a node or marked unschedulable, and every controller has all its
// pods or reports why it cannot create them.
func settle(ctx context.Context, cs kubernetes.Interface, t *tracked, timeout time.Duration) ([]Placement, error) {
	var out []Placement
	var waiting []string // what the last look was still waiting for, for a timeout's message
	// A verdict counts only once it has held still: the same placements seen for settleFor. Under load the
	// scheduler's decision for one pod can race an event that invalidates it (a node turning Ready, a victim
	// going away); such a decision changes within moments, a final one does not.
	const settleFor = 1500 * time.Millisecond
	var stableSince time.Time
	var lastSig, moved string // moved: what the last change of placements was, for a timeout's message
	var lastWait string       // and what the last look that was not yet settled waited for
	var lastWaitAt time.Time
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		var err error
		var st placementState
		var count map[string]int
		var got []Placement
		if got, count, st, err = placements(ctx, cs, t); err != nil {
			if ctx.Err() == nil && !strings.Contains(err.Error(), "rate limiter") {
				waiting = append(waiting[:0:0], "the API server: "+err.Error())
			}
			return false, nil // a slow or restarting API server is retried until the deadline
		}
		out = got
		prev := waiting
		waiting = nil
		defer func() {
			if len(waiting) == 0 && len(prev) > 0 && ctx.Err() != nil {
				waiting = prev
			}
		}()
		// A terminating pod (a preemption victim) still holds its GPU, and a nominated pod is about to take a
		// victim's place; a verdict read before either settles is not the answer yet.
		if st.terminating > 0 {
			sort.Strings(st.terminatingPods)
			if len(st.terminatingPods) > 3 {
				st.terminatingPods = append(st.terminatingPods[:3], "…")
			}
			waiting = append(waiting, fmt.Sprintf("%d terminating pod(s): %s", st.terminating, strings.Join(st.terminatingPods, ", ")))
		}
		if st.preempting > 0 {
			waiting = append(waiting, fmt.Sprintf("%d pod(s) nominated to a node (preemption under way)", st.preempting))
		}
		if len(st.unadvertised) > 0 {
			waiting = append(waiting, "the device plugin to advertise the GPUs of "+strings.Join(st.unadvertised, ", "))
		}
		if st.staleGPUVerdicts > 0 {
			waiting = append(waiting, fmt.Sprintf("%d Pending GPU pod(s) that a Ready node now admits (scheduler retry)", st.staleGPUVerdicts))
		}
		for _, p := range out {
			if p.Node == "" && p.Pending == "" {
				waiting = append(waiting, "pod "+p.Pod+" not yet scheduled nor marked unschedulable")
			}
		}
		dss, err := cs.AppsV1().DaemonSets("").List(ctx, metav1.ListOptions{})
		if err != nil {
			waiting = append(waiting, "the API server: "+err.Error())
		} else {
			for _, ds := range dss.Items {
				key := ds.Name
				if _, probe := t.probes[ds.Name]; !probe {
					key = "chart:DaemonSet/" + ds.Namespace + "/" + ds.Name
					if !t.hasReal(key) {
						continue
					}
				}
				// The DaemonSet controller has seen the current nodes and made a pod for each it admits.
				if ds.Status.ObservedGeneration < ds.Generation || int(ds.Status.DesiredNumberScheduled) != count[key] {
					waiting = append(waiting, fmt.Sprintf("DaemonSet %s/%s: %d of %d pods created", ds.Namespace, ds.Name, count[key], ds.Status.DesiredNumberScheduled))
				}
			}
		}
		add := func(w deploy.Workload, key, pod string, sel string, real bool) {
			if w.DaemonSet || count[key] >= w.Replicas {
				return
			}
			reason, err := replicaFailure(ctx, cs, w.Namespace, sel)
			if err != nil {
				waiting = append(waiting, "the API server: "+err.Error())
				return
			}
			if reason == "" {
				waiting = append(waiting, fmt.Sprintf("%s: %d of %d pods created", pod, count[key], w.Replicas))
				delete(t.rejectedSince, key)
				return
			}
			// A rejection can be stale: quota usage is released by the quota controller after the pod that held
			// it is gone (a preemption victim), and the ReplicaSet retries with back-off. It is the answer once it
			// has stood for 10 s.
			if t.rejectedSince[key].IsZero() {
				t.rejectedSince[key] = time.Now()
			}
			if time.Since(t.rejectedSince[key]) < 10*time.Second {
				waiting = append(waiting, fmt.Sprintf("%s: a rejection (%s) to stand or be retried", pod, reason))
				return
			}
			for i := count[key]; i < w.Replicas; i++ {
				out = append(out, Placement{Workload: w, Pod: pod, Pending: "rejected by the API server: " + reason, Real: real})
			}
		}
		for name, w := range t.probes {
			add(w, name, w.Namespace+"/"+name, LabelProbe+"="+name, false)
		}
		for _, r := range t.real {
			key := "chart:" + r.w.Name
			switch r.kind {
			case "Deployment", "ReplicaSet":
				add(r.w, key, r.w.Name, r.sel.String(), true)
			case "StatefulSet":
				// Pods are created in order, each once the one before is Ready: behind a Pending pod the others
				// are never created. They are Pending for the same reason.
				blocked := ""
				for _, pl := range out {
					if pl.Real && pl.Workload.Name == r.w.Name && pl.Node == "" && pl.Pending != "" {
						blocked = pl.Pending
					}
				}
				switch {
				case count[key] >= r.w.Replicas:
				case blocked != "":
					for i := count[key]; i < r.w.Replicas; i++ {
						out = append(out, Placement{Workload: r.w, Pod: r.w.Name, Pending: "not created: an earlier pod of the StatefulSet is Pending: " + blocked, Real: true})
					}
				default:
					waiting = append(waiting, fmt.Sprintf("%s: %d of %d pods created", r.w.Name, count[key], r.w.Replicas))
				}
			}
		}
		if len(waiting) > 0 {
			stableSince, lastSig = time.Time{}, ""
			lastWait, lastWaitAt, moved = strings.Join(waiting, "; "), time.Now(), ""
			return false, nil
		}
		if sig := signature(out); sig != lastSig || stableSince.IsZero() {
			if lastSig != "" {
				moved = sigChange(lastSig, sig)
			}
			stableSince, lastSig = time.Now(), sig
		}
		if time.Since(stableSince) < settleFor {
			w := "placements to hold still for " + settleFor.String()
			switch {
			case moved != "":
				w += " (the last change: " + moved + ")"
			case lastWait != "":
				w += fmt.Sprintf(" (%s ago it was waiting for: %s)", time.Since(lastWaitAt).Round(100*time.Millisecond), lastWait)
			}
			waiting = []string{w}
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		sort.Strings(waiting)
		return out, fmt.Errorf("pods not settled after %s; still waiting for: %s", timeout, strings.Join(waiting, "; "))
	}
	return out, nil
}

// signature identifies a set of placements: which pod is where, or Pending.
func signature(ps []Placement) string {
	lines := make([]string, 0, len(ps))
	for _, p := range ps {
		lines = append(lines, p.Pod+"="+p.Node)
	}
	sort.Strings(lines)
	return strings.Join(lines, ",")
}

// sigChange says how placements changed between two signatures: the pods that left a node ("-") and the pods
// that came ("+"), at most five of each.
func sigChange(from, to string) string {
	a, b := map[string]bool{}, map[string]bool{}
	for _, l := range strings.Split(from, ",") {
		a[l] = true
	}
	for _, l := range strings.Split(to, ",") {
		b[l] = true
	}
	var gone, came []string
	for l := range a {
		if !b[l] {
			gone = append(gone, "-"+l)
		}
	}
	for l := range b {
		if !a[l] {
			came = append(came, "+"+l)
		}
	}
	sort.Strings(gone)
	sort.Strings(came)
	cut := func(ls []string) []string {
		if len(ls) > 5 {
			return append(ls[:5], fmt.Sprintf("… %d more", len(ls)-5))
		}
		return ls
	}
	return strings.Join(append(cut(gone), cut(came)...), " ")
}

func (t *tracked) hasReal(key string) bool {
	for _, r := range t.real {
		if "chart:"+r.w.Name == key {
			return true
		}
	}
	return false
}

// replicaFailure returns the message of a ReplicaSet's ReplicaFailure condition (why it cannot create pods), for
// the ReplicaSets whose labels match selector.
func replicaFailure(ctx context.Context, cs kubernetes.Interface, ns, selector string) (string, error) {
	rss, err := cs.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return "", err
	}
	for _, rs := range rss.Items {
		for _, c := range rs.Status.Conditions {
			if c.Type == appsv1.ReplicaSetReplicaFailure && c.Status == corev1.ConditionTrue {
				return c.Message, nil
			}
		}
	}
	return "", nil
}

// placementState is what placements saw besides the placements: probe pods still terminating, pending pods
// nominated to a node (preemption under way), and pending GPU pods for which a Ready node has free GPUs and
// admits them — a verdict reached before that node was schedulable, which the scheduler retries after its
// back-off.
type placementState struct {
	terminating, preempting, staleGPUVerdicts int
	// terminatingPods names the terminating pods (for a timeout's message).
	terminatingPods []string
	// unadvertised are GPU nodes where a device plugin pod runs but no nvidia.com/gpu is advertised yet.
	unadvertised []string
}

// unadvertisedGPUNodes lists GPU nodes on which a pod of an NVIDIA device plugin DaemonSet is Running while the
// node advertises no nvidia.com/gpu yet: the plugin is about to register the GPUs, so a GPU verdict now is early.
func unadvertisedGPUNodes(pods []corev1.Pod, nodes []corev1.Node) []string {
	plugin := map[string]bool{}
	for _, p := range pods {
		if o := metav1.GetControllerOf(&p); o != nil && o.Kind == "DaemonSet" && gpu.IsDevicePlugin(o.Name) &&
			p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
			plugin[p.Spec.NodeName] = true
		}
	}
	var out []string
	for _, n := range nodes {
		if !isGPUNode(&n) || !plugin[n.Name] {
			continue
		}
		if q := n.Status.Allocatable[gpu.Resource]; q.IsZero() {
			out = append(out, n.Name)
		}
	}
	sort.Strings(out)
	return out
}

func placements(ctx context.Context, cs kubernetes.Interface, t *tracked) ([]Placement, map[string]int, placementState, error) {
	var st placementState
	opts := metav1.ListOptions{LabelSelector: LabelProbe}
	if len(t.real) > 0 {
		opts = metav1.ListOptions{}
	}
	pods, err := cs.CoreV1().Pods("").List(ctx, opts)
	if err != nil {
		return nil, nil, st, err
	}
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, nil, st, err
	}
	group, pool, gpuNode := map[string]string{}, map[string]string{}, map[string]bool{}
	for _, n := range nodes.Items {
		group[n.Name] = n.Labels[shape.LabelNodeGroup]
		pool[n.Name] = n.Labels["karpenter.sh/nodepool"]
		gpuNode[n.Name] = isGPUNode(&n)
	}
	free, err := freeResources(ctx, cs, nodes.Items)
	if err != nil {
		return nil, nil, st, err
	}
	deployments := map[string]string{}
	if len(t.real) > 0 {
		rss, err := cs.AppsV1().ReplicaSets("").List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, nil, st, err
		}
		for _, rs := range rss.Items {
			if o := metav1.GetControllerOf(&rs); o != nil && o.Kind == "Deployment" {
				deployments[rs.Namespace+"/"+rs.Name] = o.Name
			}
		}
	}
	st.unadvertised = unadvertisedGPUNodes(pods.Items, nodes.Items)
	var out []Placement
	count := map[string]int{}
	for _, p := range pods.Items {
		w, key, real, ok := t.match(&p, deployments)
		if !ok {
			continue
		}
		if p.DeletionTimestamp != nil {
			// Wait for a terminating pod only for a while: on a real cluster one on an unreachable node stays
			// Terminating for good. One bound to a node that is gone (a node group's old node after a roll) holds
			// nothing anywhere: it waits only for the pod garbage collector, which deletes a vanished node's pods
			// some 40 s after the node went.
			_, nodeExists := group[p.Spec.NodeName]
			if (p.Spec.NodeName == "" || nodeExists) && time.Since(p.DeletionTimestamp.Time) < 30*time.Second {
				st.terminating++
				st.terminatingPods = append(st.terminatingPods, p.Namespace+"/"+p.Name+" on "+p.Spec.NodeName)
			}
			continue
		}
		if p.Spec.NodeName == "" && p.Status.NominatedNodeName != "" {
			st.preempting++ // the scheduler is making room for it: not a verdict yet
		}
		if p.Spec.NodeName == "" && gpuFitsSomewhere(&p, nodes.Items, free) {
			// The scheduler revisits such a verdict within seconds (it retries unschedulable pods every 5 s); one
			// still standing after that is the answer — the harness's estimate of "fits" (resources, taints, node
			// selection) does not see everything the scheduler does (inter-pod affinity, topology spread).
			id := p.Namespace + "/" + p.Name
			if t.staleSince[id].IsZero() {
				t.staleSince[id] = time.Now()
			}
			if time.Since(t.staleSince[id]) < 15*time.Second {
				st.staleGPUVerdicts++
			}
		}
		count[key]++
		pl := Placement{Workload: w, Pod: p.Namespace + "/" + p.Name, Node: p.Spec.NodeName, Group: group[p.Spec.NodeName],
			NodePool: pool[p.Spec.NodeName], GPUNode: gpuNode[p.Spec.NodeName], Real: real}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
				pl.Pending = c.Message
			}
		}
		out = append(out, pl)
	}
	return out, count, st, nil
}

// GPUNodes names the cluster's nodes whose instance type has GPUs, as the API server lists them (node groups'
// nodes, rolled ones and Karpenter's alike), leaving out nodes being deleted.
func (e *Env) GPUNodes(ctx context.Context) ([]string, error) {
	nodes, err := e.clientset.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range nodes.Items {
		if n.DeletionTimestamp != nil {
			continue
		}
		if isGPUNode(&n) {
			out = append(out, n.Name)
		}
	}
	sort.Strings(out)
	return out, nil
}

// isGPUNode reports whether a node's instance type (its well-known label) has GPUs.
func isGPUNode(n *corev1.Node) bool {
	it, err := shape.Lookup(n.Labels[corev1.LabelInstanceTypeStable])
	return err == nil && it.GPU()
}

// freeResources is each node's allocatable minus the requests of the pods bound to it (and one pod slot each).
func freeResources(ctx context.Context, cs kubernetes.Interface, nodes []corev1.Node) (map[string]corev1.ResourceList, error) {
	free := map[string]corev1.ResourceList{}
	for _, n := range nodes {
		free[n.Name] = n.Status.Allocatable.DeepCopy()
	}
	pods, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName!="})
	if err != nil {
		return nil, err
	}
	for _, p := range pods.Items {
		f, ok := free[p.Spec.NodeName]
		if !ok || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		for name, q := range podRequests(&p) {
			v := f[name]
			v.Sub(q)
			f[name] = v
		}
		pods := f[corev1.ResourcePods]
		pods.Sub(*resource.NewQuantity(1, resource.DecimalSI))
		f[corev1.ResourcePods] = pods
	}
	return free, nil
}

// podRequests is what a pod needs of a node, computed as the scheduler computes it (containers, init and
// sidecar containers, overhead).
func podRequests(p *corev1.Pod) corev1.ResourceList {
	return resourcehelper.PodRequests(p, resourcehelper.PodResourcesOptions{})
}

// gpuFitsSomewhere reports whether an unscheduled GPU pod would fit a Ready node now — resources free, taints
// tolerated, node selection matched — so its Pending verdict predates the node being schedulable.
func gpuFitsSomewhere(p *corev1.Pod, nodes []corev1.Node, free map[string]corev1.ResourceList) bool {
	req := podRequests(p)
	if g := req[gpu.Resource]; g.IsZero() {
		return false
	}
	for i := range nodes {
		n := &nodes[i]
		if !node.Ready(n) || n.Spec.Unschedulable {
			continue
		}
		f := free[n.Name]
		fits := f.Pods().Value() >= 1
		for name, q := range req {
			if v, ok := f[name]; !ok || v.Cmp(q) < 0 {
				fits = false
			}
		}
		if !fits {
			continue
		}
		if _, untolerated := corev1helpers.FindMatchingUntoleratedTaint(klog.Background(), n.Spec.Taints, p.Spec.Tolerations,
			func(t *corev1.Taint) bool {
				return t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute
			}, false); untolerated {
			continue
		}
		if ok, err := nodeaffinity.GetRequiredNodeAffinity(p).Match(n); err == nil && ok {
			return true
		}
	}
	return false
}

// DeleteProbes removes every probe Deployment and DaemonSet (and so their pods) from the cluster.
func (e *Env) DeleteProbes(ctx context.Context) error { return e.deleteProbes(ctx, true) }

// DeleteProbeDeployments removes the probe Deployments (the workloads' pods, GPU requests included) and keeps the
// DaemonSet probes: the NVIDIA device plugin's probe is what advertises the GPUs when its chart is not installed.
func (e *Env) DeleteProbeDeployments(ctx context.Context) error { return e.deleteProbes(ctx, false) }

func (e *Env) deleteProbes(ctx context.Context, daemonSets bool) error {
	cs := e.clientset
	sel := metav1.ListOptions{LabelSelector: LabelProbe}
	bg := metav1.DeletePropagationBackground
	del := metav1.DeleteOptions{PropagationPolicy: &bg}
	ds, err := cs.AppsV1().Deployments("").List(ctx, sel)
	if err != nil {
		return err
	}
	var errs []error
	for _, d := range ds.Items {
		errs = append(errs, ignoreNotFound(cs.AppsV1().Deployments(d.Namespace).Delete(ctx, d.Name, del)))
	}
	if !daemonSets {
		return errors.Join(errs...)
	}
	dss, err := cs.AppsV1().DaemonSets("").List(ctx, sel)
	if err != nil {
		return err
	}
	for _, d := range dss.Items {
		errs = append(errs, ignoreNotFound(cs.AppsV1().DaemonSets(d.Namespace).Delete(ctx, d.Name, del)))
	}
	return errors.Join(errs...)
}

func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// EnsureNamespace creates ns when it is missing and says whether it did.
func EnsureNamespace(ctx context.Context, cs kubernetes.Interface, ns string) (bool, error) {
	_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	switch {
	case apierrors.IsAlreadyExists(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("create namespace %s: %w", ns, err)
	}
	return true, nil
}
