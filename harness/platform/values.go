package platform

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/deploy"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/gpu"
)

// appWorkloads turns an upstream app's values into probe workloads: every place in the values that sets
// nodeSelector or tolerations is one component of the chart (controller, webhook, ...), with the resources set
// beside it. Flyte's GPU task tolerations (plugins.k8s.resource-tolerations) become a one-GPU task workload.
// The charts themselves are not rendered here; this is what their values promise. A value of the wrong type
// (a string where tolerations are a list) is an error naming the Application and the key.
func (p *Platform) appWorkloads(a deploy.App) ([]deploy.Workload, error) {
	var out []deploy.Workload
	var walk func(path []string, m map[string]any) error
	key := func(path []string, k string) string {
		return strings.Join(append(append([]string(nil), path...), k), ".")
	}
	bad := func(path []string, k string, err error) error {
		where := p.ValueAt(a.Chart, append(append([]string(nil), path...), k))
		return fmt.Errorf("%s: application %s: values key %s: %v", where, a.Name, key(path, k), err)
	}
	walk = func(path []string, m map[string]any) error {
		_, hasSel := m["nodeSelector"]
		_, hasTol := m["tolerations"]
		if hasSel || hasTol {
			var spec corev1.PodSpec
			for _, k := range []string{"nodeSelector", "tolerations"} {
				if v, ok := m[k]; ok && v != nil {
					if err := deploy.Convert(map[string]any{k: v}, &spec); err != nil {
						return bad(path, k, err)
					}
				}
			}
			c := corev1.Container{Name: "probe"}
			if r, ok := m["resources"]; ok && r != nil {
				if err := deploy.Convert(r, &c.Resources); err != nil {
					return bad(path, "resources", err)
				}
			}
			spec.Containers = []corev1.Container{c}
			name := "Application/" + a.Namespace + "/" + a.Name
			if len(path) > 0 {
				name += "/" + strings.Join(path, ".")
			}
			out = append(out, deploy.Workload{Name: name, Source: "helm/values (" + a.Name + ")", Namespace: a.Namespace,
				Replicas: 1, DaemonSet: a.Chart == gpu.DevicePlugin, Spec: spec, App: a.Name})
		}
		if rt, ok := m["resource-tolerations"].(map[string]any); ok {
			if tols, ok := rt[string(gpu.Resource)]; ok {
				var spec corev1.PodSpec
				if err := deploy.Convert(map[string]any{"tolerations": tols}, &spec); err != nil {
					return bad(path, "resource-tolerations."+string(gpu.Resource), err)
				}
				one := resource.MustParse("1")
				spec.Containers = []corev1.Container{{Name: "task", Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{gpu.Resource: one}, Limits: corev1.ResourceList{gpu.Resource: one}}}}
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
				if err := walk(append(append([]string(nil), path...), k), child); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk(nil, a.Values); err != nil {
		return nil, err
	}
	return out, nil
}
