package check

import (
	"fmt"

	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/deploy"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/engine"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/platform"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/shape"
)

// GPUIsolation checks the probes' placements: GPU workloads only on GPU node groups, nothing else there but the
// NVIDIA device plugin. A GPU pod Pending only for want of GPUs is gpu-capacity's business.
//
// With Karpenter, the GPU nodes it launched count as GPU nodes, and each must carry every taint of the GPU node
// groups: the taint is what keeps pods that do not tolerate it (system pods) off GPU nodes.
func GPUIsolation(p *platform.Platform, ps []engine.Placement, knodes []engine.KarpenterNode) result.Result {
	const name = "gpu-isolation"
	gpuGroup := map[string]bool{}
	var gpuTaints []corev1.Taint
	for _, g := range p.Shape.Groups {
		gpuGroup[g.Name] = g.Instance.GPU()
		if g.Instance.GPU() {
			gpuTaints = append(gpuTaints, g.Taints...)
		}
	}
	var problems []string
	for _, n := range knodes {
		if n.GPUs == 0 {
			continue
		}
		for _, want := range gpuTaints {
			if !hasTaint(n.Taints, want) {
				problems = append(problems, fmt.Sprintf("GPU node %s (%s, launched by Karpenter from NodePool %s) lacks the taint %s:%s the GPU node group carries: pods that do not tolerate it (system pods) can land on it",
					n.Name, n.InstanceType, n.NodePool, want.Key, want.Effect))
			}
		}
	}
	placed := 0
	for _, pl := range ps {
		w := pl.Workload
		switch {
		case pl.Node == "" && w.GPUs() > 0 && p.FitsGPUGroup(w):
			continue
		case pl.Node == "" && w.GPUs() > 0:
			problems = append(problems, fmt.Sprintf("%s (%s) pod %s Pending: %s", w.Name, w.Source, pl.Pod, pl.Pending))
		case pl.Node == "":
			continue // system-fit reports it
		case w.GPUs() > 0 && !gpuGroup[pl.Group] && !pl.GPUNode:
			problems = append(problems, fmt.Sprintf("%s (%s) requests nvidia.com/gpu but landed on %s (%s)", w.Name, w.Source, pl.Node, where(pl)))
		case w.GPUs() == 0 && (gpuGroup[pl.Group] || pl.GPUNode) && !platform.IsNodeAgent(w):
			problems = append(problems, fmt.Sprintf("%s (%s) requests no GPU but landed on GPU node %s (%s)", w.Name, w.Source, pl.Node, where(pl)))
		default:
			placed++
		}
	}
	if len(problems) > 0 {
		return result.Fail(name, problems, "%d placement(s) break GPU isolation", len(problems))
	}
	chart := 0
	for _, pl := range ps {
		if pl.Real {
			chart++
		}
	}
	r := result.Pass(name, "%d pods placed by kube-scheduler (%d created by installed charts, %d probes): GPU work only on GPU groups, only the device plugin beside it", placed, chart, len(ps)-chart)
	if k := gpuNodes(knodes); k > 0 {
		r.Message += fmt.Sprintf("; the %d GPU node(s) Karpenter launched carry the GPU group's taints", k)
	}
	return r
}

func where(pl engine.Placement) string {
	if pl.NodePool != "" {
		return "launched by Karpenter from NodePool " + pl.NodePool
	}
	return "group " + pl.Group
}

func hasTaint(taints []corev1.Taint, want corev1.Taint) bool {
	for _, t := range taints {
		if t.Key == want.Key && t.Effect == want.Effect && (want.Value == "" || t.Value == want.Value) {
			return true
		}
	}
	return false
}

func gpuNodes(knodes []engine.KarpenterNode) int {
	n := 0
	for _, k := range knodes {
		if k.GPUs > 0 {
			n++
		}
	}
	return n
}

// GPUCapacity compares the GPUs every declared workload requests with the GPU groups at desired and at max
// size, listing pods the scheduler left Pending. now is the cluster's layout after scaling.
//
// watched are the workloads the engine watched (probes and installed charts' controllers): the device plugin's
// DaemonSet must cover every GPU node. gpuNodes are the names of the cluster's GPU nodes as it reports them (node
// groups' and Karpenter's alike; a rolled or real node group's nodes are not named after the shape).
func GPUCapacity(p *platform.Platform, now *shape.Shape, watched []deploy.Workload, ps []engine.Placement, pools []platform.NodePool, knodes []engine.KarpenterNode, gpuNodes []string) result.Result {
	var sizes []string
	for _, g := range now.Groups {
		sizes = append(sizes, fmt.Sprintf("%s=%d", g.Name, g.DesiredSize))
	}
	scaledTo := strings.Join(sizes, ", ")
	const name = "gpu-capacity"
	var demand int64
	var lines []string
	for _, w := range p.Workloads {
		if n := w.GPUs(); n > 0 && !w.DaemonSet {
			demand += n * int64(w.Replicas)
			lines = append(lines, fmt.Sprintf("%s: %d pod(s) x %d GPU", w.Name, w.Replicas, n))
		}
	}
	desired, max := 0, 0
	for _, g := range p.Shape.Groups {
		desired += g.DesiredSize * g.Instance.GPUs
		max += g.MaxSize * g.Instance.GPUs
	}
	// Karpenter (when it runs): its GPU NodePools add up to their limits; the GPUs of the nodes it launched.
	var poolDesc []string
	unbounded := false
	launched := map[string]int{}
	for _, n := range knodes {
		launched[n.NodePool] += n.GPUs
	}
	for _, np := range pools {
		if !np.GPU() {
			continue
		}
		switch {
		case np.GPULimit == nil:
			unbounded = true
			poolDesc = append(poolDesc, fmt.Sprintf("NodePool %s at %d GPUs (no limit)", np.Name, launched[np.Name]))
		default:
			max += int(*np.GPULimit)
			poolDesc = append(poolDesc, fmt.Sprintf("NodePool %s at %d of its limit of %d GPUs", np.Name, launched[np.Name], *np.GPULimit))
		}
	}
	karpenterText := ""
	if len(poolDesc) > 0 {
		karpenterText = " and Karpenter's " + strings.Join(poolDesc, ", ")
	}
	var pending []string
	for _, pl := range ps {
		if pl.Node == "" && pl.Workload.GPUs() > 0 {
			pending = append(pending, fmt.Sprintf("%s Pending: %s", pl.Pod, pl.Pending))
		}
	}
	sort.Strings(pending)
	lines = append(lines, pending...)
	uncovered := devicePluginCoverage(p, now, watched, ps, gpuNodes)
	lines = append(lines, uncovered...)
	switch {
	case len(uncovered) > 0:
		return result.Fail(name, lines, "the NVIDIA device plugin does not run on every GPU node: GPU pods there would stay Pending on EKS (no nvidia.com/gpu advertised)")
	case demand > int64(max) && !unbounded:
		return result.Fail(name, lines, "declared GPU demand %d exceeds the %d GPUs of the GPU groups at max size%s", demand, max, limitsText(pools))
	case len(pending) > 0:
		return result.Fail(name, lines, "%d GPU pod(s) Pending with the node groups at %s%s", len(pending), scaledTo, karpenterText)
	case len(poolDesc) > 0:
		r := result.Pass(name, "declared GPU demand %d placed on the node groups at %s%s (within its limits; the node groups' desired size gives %d GPUs)", demand, scaledTo, karpenterText, desired)
		r.Details = lines
		return r
	case demand > int64(desired):
		r := result.Pass(name, "declared GPU demand %d needs more than the %d GPUs at desired size; all placed once the groups were scaled to %s (max %d GPUs)", demand, desired, scaledTo, max)
		r.Details = lines
		return r
	}
	r := result.Pass(name, "declared GPU demand %d fits the %d GPUs at desired size (max %d)", demand, desired, max)
	r.Details = lines
	return r
}

// limitsText names the GPU NodePools' limits that make up the maximum, for a failure message.
func limitsText(pools []platform.NodePool) string {
	var out []string
	for _, np := range pools {
		if np.GPU() && np.GPULimit != nil {
			out = append(out, fmt.Sprintf("NodePool %s's limits.nvidia.com/gpu %d (%s)", np.Name, *np.GPULimit, np.Object.Source))
		}
	}
	if len(out) == 0 {
		return ""
	}
	return " plus " + strings.Join(out, ", ")
}

// SystemFit checks that every non-GPU workload was placed: no Pending for cpu, memory or pods.
func SystemFit(ps []engine.Placement) result.Result {
	const name = "system-fit"
	var problems []string
	n := 0
	for _, pl := range ps {
		if pl.Workload.GPUs() > 0 {
			continue
		}
		n++
		if pl.Node == "" {
			problems = append(problems, fmt.Sprintf("%s (%s) pod %s Pending: %s", pl.Workload.Name, pl.Workload.Source, pl.Pod, pl.Pending))
		}
	}
	if len(problems) > 0 {
		return result.Fail(name, problems, "%d of %d system pods do not fit", len(problems), n)
	}
	return result.Pass(name, "all %d system pods placed", n)
}

// devicePluginCoverage checks that a DaemonSet of the NVIDIA device plugin has a pod on every GPU node (what
// advertises nvidia.com/gpu on EKS), naming what keeps it off the others. Returns one line per problem.
func devicePluginCoverage(p *platform.Platform, now *shape.Shape, watched []deploy.Workload, ps []engine.Placement, gpuNodes []string) []string {
	if len(gpuNodes) == 0 {
		return nil
	}
	covered := map[string]map[string]bool{}
	plugins := map[string]deploy.Workload{}
	for _, pl := range ps {
		if !platform.IsDevicePlugin(pl.Workload) {
			continue
		}
		plugins[pl.Workload.Name] = pl.Workload
		if covered[pl.Workload.Name] == nil {
			covered[pl.Workload.Name] = map[string]bool{}
		}
		if pl.Node != "" {
			covered[pl.Workload.Name][pl.Node] = true
		}
	}
	for _, w := range watched { // a device plugin DaemonSet that made no pod at all is in no placement
		if platform.IsDevicePlugin(w) {
			plugins[w.Name] = w
		}
	}
	if len(plugins) == 0 {
		return []string{"no NVIDIA device plugin DaemonSet is deployed: no node would advertise nvidia.com/gpu"}
	}
	var out []string
	for name, w := range plugins {
		var missing []string
		for _, n := range gpuNodes {
			if !covered[name][n] {
				missing = append(missing, n)
			}
		}
		if len(missing) == 0 {
			return nil // one device plugin covering every GPU node is enough
		}
		why := ""
		for _, g := range now.Groups {
			if ok, reason := p.Fit(w, g); g.Instance.GPU() && !ok {
				why = ": " + reason
			}
		}
		out = append(out, fmt.Sprintf("DaemonSet %s (%s) covers %d of %d GPU node(s), not %s%s", name, w.Source, len(gpuNodes)-len(missing), len(gpuNodes), strings.Join(missing, ", "), why))
	}
	sort.Strings(out)
	return out
}
