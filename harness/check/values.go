package check

import (
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/deploy"
)

// appWorkloads turns an upstream app's values into probe workloads: every place in the values that sets
// nodeSelector or tolerations is one component of the chart (controller, webhook, ...), with the resources set
// beside it. Flyte's GPU task tolerations (plugins.k8s.resource-tolerations) become a one-GPU task workload.
// The charts themselves are not rendered here (they are not fetched); this is what their values promise.
func appWorkloads(a deploy.App) []deploy.Workload {
	var out []deploy.Workload
	var walk func(path []string, m map[string]any)
	walk = func(path []string, m map[string]any) {
		_, hasSel := m["nodeSelector"]
		_, hasTol := m["tolerations"]
		if hasSel || hasTol {
			var spec corev1.PodSpec
			_ = deploy.Convert(map[string]any{"nodeSelector": m["nodeSelector"], "tolerations": m["tolerations"]}, &spec)
			c := corev1.Container{Name: "probe"}
			if r, ok := m["resources"].(map[string]any); ok {
				_ = deploy.Convert(r, &c.Resources)
			}
			spec.Containers = []corev1.Container{c}
			name := "Application/" + a.Namespace + "/" + a.Name
			if len(path) > 0 {
				name += "/" + strings.Join(path, ".")
			}
			out = append(out, deploy.Workload{Name: name, Source: "helm/values (" + a.Name + ")", Namespace: a.Namespace,
				Replicas: 1, DaemonSet: a.Chart == "nvidia-device-plugin", Spec: spec})
		}
		if rt, ok := m["resource-tolerations"].(map[string]any); ok {
			if tols, ok := rt[string(deploy.GPUResource)]; ok {
				var spec corev1.PodSpec
				_ = deploy.Convert(map[string]any{"tolerations": tols}, &spec)
				one := resource.MustParse("1")
				spec.Containers = []corev1.Container{{Name: "task", Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{deploy.GPUResource: one}, Limits: corev1.ResourceList{deploy.GPUResource: one}}}}
				out = append(out, deploy.Workload{Name: "Application/" + a.Namespace + "/" + a.Name + "/gpu-task",
					Source: "helm/values (" + a.Name + " k8s plugin resource-tolerations)", Namespace: a.Namespace, Replicas: 1, Spec: spec})
			}
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if child, ok := m[k].(map[string]any); ok && k != "nodeSelector" && k != "resources" {
				walk(append(append([]string(nil), path...), k), child)
			}
		}
	}
	walk(nil, a.Values)
	return out
}
