package deploy

import (
	"encoding/json"
	"fmt"
	"sort"

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
	replicas := func(path ...string) int {
		n, found, _ := unstructured.NestedInt64(o.Object, path...)
		if !found {
			return 1
		}
		return int(n)
	}
	switch o.GetKind() {
	case "Pod":
		return w("", 1, "spec")
	case "Deployment", "StatefulSet", "ReplicaSet":
		return w("", replicas("spec", "replicas"), "spec", "template", "spec")
	case "Job":
		return w("", replicas("spec", "parallelism"), "spec", "template", "spec")
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
		replicas, ok, _ := unstructured.NestedInt64(gm, "replicas")
		if !ok {
			replicas = 1
		}
		// The autoscaler never goes below minReplicas: that many pods must fit.
		if minimum, ok, _ := unstructured.NestedInt64(gm, "minReplicas"); ok && minimum > replicas {
			replicas = minimum
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
	replicas, ok, _ := unstructured.NestedInt64(pred, "minReplicas")
	if !ok {
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
