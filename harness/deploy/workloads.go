package deploy

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/gpu"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Workload is one set of identical pods the platform declares: a pod template with its replica count and
// where it was declared. Pod templates inside custom resources (Ray worker groups, KServe predictors) become
// workloads too, so they can be checked and probed without their operators.
type Workload struct {
	// Name is unique: kind/namespace/name[/group].
	Name      string
	Source    string
	Namespace string
	Replicas  int
	// DaemonSet marks one pod per matching node.
	DaemonSet bool
	Spec      corev1.PodSpec
	// Selector is the controller's pod selector (Deployment, StatefulSet, ReplicaSet, Job, DaemonSet): how the
	// pods a controller really created are found.
	Selector *metav1.LabelSelector
	// App is the Application whose values declared this workload (an upstream chart's component, probed from
	// its values until the chart itself is installed); empty otherwise.
	App string
}

// GPUs is the number of nvidia.com/gpu one pod requests (requests, or limits when requests omit it).
func (w Workload) GPUs() int64 { return gpu.Requested(&w.Spec) }

// Workloads extracts the pod templates of objects.
func Workloads(objs []Object) ([]Workload, error) {
	var out []Workload
	for _, o := range objs {
		ws, err := workloadsOf(o)
		if err != nil {
			return nil, fmt.Errorf("%s (%s): %w", o, o.Source, err)
		}
		out = append(out, ws...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func workloadsOf(o Object) ([]Workload, error) {
	base := o.GetKind() + "/" + o.GetNamespace() + "/" + o.GetName()
	w := func(suffix string, replicas int, path ...string) ([]Workload, error) {
		spec, found, err := podSpecAt(o.Object, path...)
		if err != nil || !found {
			return nil, err
		}
		name := base
		if suffix != "" {
			name += "/" + suffix
		}
		var sel *metav1.LabelSelector
		if m, ok, _ := unstructured.NestedMap(o.Object, "spec", "selector"); ok {
			sel = &metav1.LabelSelector{}
			if err := Convert(m, sel); err != nil {
				return nil, fmt.Errorf("spec.selector: %w", err)
			}
		}
		return []Workload{{Name: name, Source: o.Source, Namespace: o.GetNamespace(), Replicas: replicas, Spec: spec, Selector: sel}}, nil
	}
	switch o.GetKind() {
	case "Pod":
		return w("", 1, "spec")
	case "Deployment", "StatefulSet", "ReplicaSet":
		n, err := IntAt(o.Object, 1, "spec", "replicas")
		if err != nil {
			return nil, err
		}
		return w("", int(n), "spec", "template", "spec")
	case "Job":
		// Pods running at once: parallelism (default 1), never more than completions when that is set.
		n, err := IntAt(o.Object, 1, "spec", "parallelism")
		if err != nil {
			return nil, err
		}
		c, err := IntAt(o.Object, -1, "spec", "completions")
		if err != nil {
			return nil, err
		}
		if c >= 0 && c < n {
			n = c
		}
		return w("", int(n), "spec", "template", "spec")
	case "DaemonSet":
		ws, err := w("", 0, "spec", "template", "spec")
		for i := range ws {
			ws[i].DaemonSet = true
		}
		return ws, err
	case "RayJob":
		return rayCluster(o, base, "spec", "rayClusterSpec")
	case "RayService":
		return rayCluster(o, base, "spec", "rayClusterConfig")
	case "RayCluster":
		return rayCluster(o, base, "spec")
	case "InferenceService":
		return inferenceService(o, base)
	}
	return nil, nil
}

func rayCluster(o Object, base string, path ...string) ([]Workload, error) {
	spec, found, err := podSpecAt(o.Object, append(path, "headGroupSpec", "template", "spec")...)
	if err != nil {
		return nil, err
	}
	var out []Workload
	if found {
		out = append(out, Workload{Name: base + "/head", Source: o.Source, Namespace: o.GetNamespace(), Replicas: 1, Spec: spec})
	}
	groups, _, _ := unstructured.NestedSlice(o.Object, append(path, "workerGroupSpecs")...)
	for i, g := range groups {
		gm, ok := g.(map[string]any)
		if !ok {
			continue
		}
		spec, found, err := podSpecAt(gm, "template", "spec")
		if err != nil {
			return nil, fmt.Errorf("workerGroupSpecs[%d]: %w", i, err)
		}
		if !found {
			continue
		}
		name, _, _ := unstructured.NestedString(gm, "groupName")
		replicas, err := RayWorkerPods(gm)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", strings.Join(append(append([]string{}, path...), fmt.Sprintf("workerGroupSpecs[%d]", i)), "."), err)
		}
		out = append(out, Workload{Name: base + "/" + name, Source: o.Source, Namespace: o.GetNamespace(), Replicas: int(replicas), Spec: spec})
	}
	return out, nil
}

// inferenceService turns the predictor into a pod spec: its pod-level fields plus the model container.
func inferenceService(o Object, base string) ([]Workload, error) {
	pred, found, _ := unstructured.NestedMap(o.Object, "spec", "predictor")
	if !found {
		return nil, nil
	}
	var spec corev1.PodSpec
	if err := Convert(pred, &spec); err != nil {
		return nil, err
	}
	if model, ok := pred["model"].(map[string]any); ok {
		var c corev1.Container
		if err := Convert(model, &c); err != nil {
			return nil, err
		}
		c.Name = "kserve-container"
		spec.Containers = append(spec.Containers, c)
	}
	// KServe's default minReplicas is 1 (0 only scales to zero in Serverless mode, which this platform does not
	// run: RawDeployment keeps at least one pod).
	replicas, err := IntAt(pred, 1, "minReplicas")
	if err != nil {
		return nil, fmt.Errorf("spec.predictor.%w", err)
	}
	if replicas < 1 {
		replicas = 1
	}
	return []Workload{{Name: base + "/predictor", Source: o.Source, Namespace: o.GetNamespace(), Replicas: int(replicas), Spec: spec}}, nil
}

func podSpecAt(obj map[string]any, path ...string) (corev1.PodSpec, bool, error) {
	m, found, err := unstructured.NestedMap(obj, path...)
	if err != nil || !found {
		return corev1.PodSpec{}, found, err
	}
	var spec corev1.PodSpec
	return spec, true, Convert(m, &spec)
}

// Convert decodes a loosely typed map into a typed struct, ignoring fields the struct lacks.
func Convert(in any, out any) error {
	data, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, out)
}

// RayWorkerPods is the number of pods a Ray worker group asks for: replicas (KubeRay's CRD default 0), raised to
// minReplicas (the autoscaler never goes below it), times numOfHosts (multi-host groups: one pod per host);
// 0 when the group is suspended. KubeRay (ray-operator utils.GetWorkerGroupDesiredReplicas) also caps replicas at
// maxReplicas; that cap is not applied here: replicas above maxReplicas are what the job asks for, and a demand
// that cannot be met is reported as such rather than silently lowered (workflows/ray-bounds names the cap).
func RayWorkerPods(group map[string]any) (int64, error) {
	if s, _, _ := unstructured.NestedBool(group, "suspend"); s {
		return 0, nil
	}
	replicas, err := IntAt(group, 0, "replicas")
	if err != nil {
		return 0, err
	}
	minimum, err := IntAt(group, 0, "minReplicas")
	if err != nil {
		return 0, err
	}
	hosts, err := IntAt(group, 1, "numOfHosts")
	if err != nil {
		return 0, err
	}
	if minimum > replicas {
		replicas = minimum
	}
	if hosts < 1 {
		hosts = 1
	}
	return replicas * hosts, nil
}

// IntAt reads the integer at path in a decoded YAML or JSON object, whatever type the decoder gave it (int,
// int64, float64 from JSON, json.Number): def when the field is absent or null. A value that is not a whole
// number (a string, a fraction) is an error naming the field: never a silent default.
func IntAt(obj map[string]any, def int64, path ...string) (int64, error) {
	v, found, err := unstructured.NestedFieldNoCopy(obj, path...)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", strings.Join(path, "."), err)
	}
	if !found || v == nil {
		return def, nil
	}
	switch n := v.(type) {
	case int:
		return int64(n), nil
	case int32:
		return int64(n), nil
	case int64:
		return n, nil
	case uint64:
		if n > math.MaxInt64 {
			break
		}
		return int64(n), nil
	case float64:
		if n == math.Trunc(n) && math.Abs(n) < 1<<53 {
			return int64(n), nil
		}
	case json.Number:
		if i, err := n.Int64(); err == nil {
			return i, nil
		}
	}
	return 0, fmt.Errorf("%s: %v (%T) is not a whole number", strings.Join(path, "."), v, v)
}
