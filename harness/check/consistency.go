package check

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/kubernetes/pkg/apis/scheduling"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/deploy"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/platform"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
)

// Consistency compares, without a cluster, the taints and labels Terraform gives the node groups with the
// tolerations and node selectors of every workload in the Helm values and workflow manifests, and the GPU
// ResourceQuotas with the GPU groups' maximum size.
func Consistency(p *platform.Platform) result.Result {
	const name = "consistency"
	var problems, notes []string
	gpuCapacityMax := 0
	for _, g := range p.Shape.Groups {
		if g.Instance.GPU() {
			gpuCapacityMax += g.MaxSize * g.Instance.GPUs
		}
	}
	for _, w := range p.Workloads {
		var gpuGroups, otherGroups, why []string
		for _, g := range p.Shape.Groups {
			ok, reason := p.Fit(w, g)
			switch {
			case ok && g.Instance.GPU():
				gpuGroups = append(gpuGroups, g.Name)
			case ok:
				otherGroups = append(otherGroups, g.Name)
			default:
				why = append(why, reason)
			}
		}
		where := fmt.Sprintf("%s (%s)", w.Name, w.Source)
		if w.GPUs() > 0 && len(gpuGroups) > 0 && !platform.ExplicitGPUToleration(w) {
			notes = append(notes, fmt.Sprintf("note: %s requests nvidia.com/gpu without tolerating the GPU taint itself; EKS's ExtendedResourceToleration admission adds the toleration", where))
		}
		switch {
		case w.GPUs() > 0 && len(gpuGroups) == 0:
			problems = append(problems, fmt.Sprintf("%s requests %d nvidia.com/gpu but fits no GPU node group: %s", where, w.GPUs(), strings.Join(why, "; ")))
		case w.GPUs() > 0 && int(w.GPUs()) > maxGPUsPerNode(p):
			problems = append(problems, fmt.Sprintf("%s requests %d nvidia.com/gpu per pod; the largest GPU node has %d", where, w.GPUs(), maxGPUsPerNode(p)))
		case platform.IsDevicePlugin(w) && (len(gpuGroups) == 0 || len(otherGroups) > 0):
			problems = append(problems, fmt.Sprintf("%s must run on every GPU group and only there; it fits GPU groups %v and other groups %v", where, gpuGroups, otherGroups))
		case w.GPUs() == 0 && !platform.IsNodeAgent(w) && len(gpuGroups) > 0:
			problems = append(problems, fmt.Sprintf("%s requests no GPU but may land on GPU group(s) %v: it tolerates the GPU taint and does not select a system group", where, gpuGroups))
		case len(gpuGroups)+len(otherGroups) == 0 && !p.FitsNodePool(w):
			problems = append(problems, fmt.Sprintf("%s fits no node group: %s", where, strings.Join(why, "; ")))
		default:
			if ok, why := p.Room(w); !ok {
				problems = append(problems, fmt.Sprintf("%s %s: its pods would stay Pending on EKS", where, why))
			}
		}
	}
	// The GPUs every workload asks for at once (replicas of every kind) against what the GPU groups and the GPU
	// NodePools' limits can hold.
	var demand int64
	var demands []string
	for _, w := range p.Workloads {
		if n := w.GPUs(); n > 0 && !w.DaemonSet && w.Replicas > 0 {
			demand += n * int64(w.Replicas)
			demands = append(demands, fmt.Sprintf("%s (%s): %d pod(s) x %d GPU", w.Name, w.Source, w.Replicas, n))
		}
	}
	// With Karpenter, Karpenter is the autoscaler: the node groups stay at their desired size (no Cluster
	// Autoscaler runs) and GPU demand beyond it must fit the GPU NodePools' limits, as gpu-capacity judges on the
	// cluster; without it the GPU groups may be scaled up to their max size.
	var pools []string
	unbounded := false
	var limits int64
	for _, np := range p.NodePools() {
		if !np.GPU() {
			continue
		}
		if np.GPULimit == nil {
			unbounded = true
			continue
		}
		limits += *np.GPULimit
		pools = append(pools, fmt.Sprintf("NodePool %s's limit of %d", np.Name, *np.GPULimit))
	}
	groups, at := int64(gpuCapacityMax), "max size"
	if len(pools) > 0 || unbounded {
		groups, at = 0, "desired size (Karpenter scales beyond it, not the node groups)"
		for _, g := range p.Shape.Groups {
			groups += int64(g.DesiredSize * g.Instance.GPUs)
		}
	}
	if supply := groups + limits; demand > supply && !unbounded {
		sort.Strings(demands)
		in := ""
		if len(pools) > 0 {
			in = " plus " + strings.Join(pools, ", ")
		}
		problems = append(problems, fmt.Sprintf("declared GPU demand %d exceeds the %d GPUs of the GPU node groups at %s%s: %s", demand, groups, at, in, strings.Join(demands, "; ")))
	}
	var quota int64
	var quotas []string
	for ns, q := range p.GPUQuota {
		quota += q
		quotas = append(quotas, fmt.Sprintf("%s=%d", ns, q))
	}
	sort.Strings(quotas)
	// The API server refuses a user-defined PriorityClass above scheduling.HighestUserDefinablePriority (values
	// above are reserved for system-* classes): the chart's sync fails and every pod naming the class is refused.
	for _, o := range p.Objects {
		if o.GetKind() != "PriorityClass" || strings.HasPrefix(o.GetName(), "system-") {
			continue
		}
		v, err := deploy.IntAt(o.Object, 0, "value")
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s (%s): %v", o, o.Source, err))
			continue
		}
		if v > int64(scheduling.HighestUserDefinablePriority) {
			problems = append(problems, fmt.Sprintf("%s (%s): value %d is above %d, the highest a user-defined PriorityClass may have: the API server refuses it, and every pod naming it", o, o.Source, v, scheduling.HighestUserDefinablePriority))
		}
	}
	// Kubernetes quotas an extended resource only as requests.<name> (ResourceQuota's documentation: "Resource
	// Quota for extended resources"); the API server accepts any domain-qualified key, but a key without the
	// prefix is never counted: the quota does not limit GPUs at all.
	for _, o := range p.Objects {
		if o.GetKind() != "ResourceQuota" {
			continue
		}
		hard, _, _ := unstructured.NestedMap(o.Object, "spec", "hard")
		keys := make([]string, 0, len(hard))
		for k := range hard {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if strings.Contains(k, "/") && !strings.HasPrefix(k, "requests.") && !strings.HasPrefix(k, "count/") {
				problems = append(problems, fmt.Sprintf("%s (%s): spec.hard %q is not enforced: Kubernetes quotas extended resources only as requests.%s", o, o.Source, k, strings.TrimPrefix(k, "limits.")))
			}
		}
	}
	if quota > int64(gpuCapacityMax) {
		problems = append(problems, fmt.Sprintf("GPU ResourceQuotas allow %d nvidia.com/gpu (%s) but the GPU node groups hold at most %d at max_size",
			quota, strings.Join(quotas, ", "), gpuCapacityMax))
	}
	problems = append(problems, kserveModes(p)...)
	if len(problems) > 0 {
		return result.Fail(name, problems, "%d inconsistencies between terraform/ node groups and helm/ + workflows/", len(problems))
	}
	r := result.Pass(name, "%d workloads agree with the node groups' taints and labels; GPU quota %d <= %d GPUs at max size",
		len(p.Workloads), quota, gpuCapacityMax)
	r.Details = notes
	return r
}

func maxGPUsPerNode(p *platform.Platform) int {
	m := 0
	for _, g := range p.Shape.Groups {
		if g.Instance.GPUs > m {
			m = g.Instance.GPUs
		}
	}
	return m
}

// kserveModeAnnotation selects an InferenceService's deployment mode; without it KServe's controller default
// (the kserve chart's kserve.controller.deploymentMode) applies.
const kserveModeAnnotation = "serving.kserve.io/deploymentMode"

// kserveModes: an InferenceService in Serverless mode needs Knative Serving — KServe's controller looks for the
// Knative Service CRD and, without it, rejects the InferenceService ("It is not possible to use Serverless deployment
// mode when Knative Services are not available"): nothing is served. The mode is the annotation, else the kserve
// Application's controller default; the platform installs Knative when an Application's chart or name says so or
// the Knative Service CRD or a KnativeServing is among its objects. (The chart's own default, when the Application
// sets none, is not read here: only what the repository declares.)
func kserveModes(p *platform.Platform) []string {
	controllerMode := ""
	knative := false
	for _, a := range p.Apps {
		if strings.Contains(strings.ToLower(a.Chart+" "+a.Name+" "+a.RepoURL+" "+a.Path), "knative") {
			knative = true
		}
		if a.Chart == "kserve" {
			if m, ok, _ := unstructured.NestedString(a.Values, "kserve", "controller", "deploymentMode"); ok {
				controllerMode = m
			}
		}
	}
	for _, o := range p.Objects {
		if (o.GetKind() == "CustomResourceDefinition" && o.GetName() == "services.serving.knative.dev") || o.GetKind() == "KnativeServing" {
			knative = true
		}
	}
	if knative {
		return nil
	}
	var v []string
	for _, o := range p.Objects {
		if o.GetKind() != "InferenceService" || !strings.HasPrefix(o.GetAPIVersion(), "serving.kserve.io/") {
			continue
		}
		mode, from := o.GetAnnotations()[kserveModeAnnotation], "its "+kserveModeAnnotation+" annotation"
		if mode == "" {
			mode, from = controllerMode, "the kserve Application's kserve.controller.deploymentMode"
		}
		if mode == "Serverless" || mode == "Knative" { // KServe's names for the Knative mode (exact, as KServe compares)
			v = append(v, fmt.Sprintf("InferenceService %s/%s (%s) runs in Serverless mode (%s), but the platform installs no Knative Serving: KServe rejects it (\"It is not possible to use Serverless deployment mode when Knative Services are not available\") and the model is never served",
				o.GetNamespace(), o.GetName(), o.Source, from))
		}
	}
	return v
}
