package platform

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/deploy"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/gpu"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/tfeval"
)

// addonPod is one workload an EKS managed add-on runs, with the requests of its default configuration.
type addonPod struct {
	name      string
	replicas  int
	daemonSet bool
	// containers' requests, "cpu/memory" each ("" memory: none).
	containers []string
}

// eksAddonPods are the pods the EKS managed add-ons Terraform installs run in kube-system, on every cluster,
// before any chart: they take the system group's room (and, as DaemonSets, every node's) on EKS, while the
// emulated cluster runs none of them. Requests as the add-ons' default manifests set them: CoreDNS 100m/70Mi × 2;
// kube-proxy 100m per node; the VPC CNI's aws-node and its network policy agent 25m each; the EBS CSI driver's
// controller (6 containers) × 2 and node (3 containers), 10m/40Mi per container.
var eksAddonPods = map[string][]addonPod{
	"coredns":            {{name: "coredns", replicas: 2, containers: []string{"100m/70Mi"}}},
	"kube-proxy":         {{name: "kube-proxy", daemonSet: true, containers: []string{"100m/"}}},
	"vpc-cni":            {{name: "aws-node", daemonSet: true, containers: []string{"25m/", "25m/"}}},
	"aws-ebs-csi-driver": {{name: "ebs-csi-controller", replicas: 2, containers: []string{"10m/40Mi", "10m/40Mi", "10m/40Mi", "10m/40Mi", "10m/40Mi", "10m/40Mi"}}, {name: "ebs-csi-node", daemonSet: true, containers: []string{"10m/40Mi", "10m/40Mi", "10m/40Mi"}}},
}

// eksAddonWorkloads are the workloads of the aws_eks_addon resources the Terraform declares (addon_name, for_each
// over a literal set expanded), as deploy.Workloads named EKSAddon/kube-system/<name>: the Deployments tolerate
// what CoreDNS and the EBS CSI controller tolerate (CriticalAddonsOnly), so they land on the system group; the
// DaemonSets tolerate every taint, as kube-proxy's and aws-node's do, so they run on GPU nodes too (node agents,
// like the device plugin). An add-on this table does not know is an error naming it.
func eksAddonWorkloads(src Sources) ([]deploy.Workload, error) {
	var tf []tfeval.File
	for _, f := range src.Files {
		tf = append(tf, tfeval.File{Path: f.Path, Data: f.Data})
	}
	names := map[string]string{} // add-on -> where declared
	for _, f := range src.Files {
		if !strings.HasSuffix(f.Path, ".tf") {
			continue
		}
		hf, diags := hclsyntax.ParseConfig(f.Data, f.Path, hcl.InitialPos)
		if diags.HasErrors() {
			return nil, fmt.Errorf("%s", diags.Error())
		}
		for _, b := range hf.Body.(*hclsyntax.Body).Blocks {
			if b.Type != "resource" || len(b.Labels) != 2 || b.Labels[0] != "aws_eks_addon" {
				continue
			}
			at := fmt.Sprintf("%s:%d", f.Path, b.DefRange().Start.Line)
			an, ok := b.Body.Attributes["addon_name"]
			if !ok {
				continue
			}
			if v, diags := an.Expr.Value(nil); !diags.HasErrors() && v.Type() == cty.String {
				names[v.AsString()] = at
				continue
			}
			fe, ok := b.Body.Attributes["for_each"]
			if !ok {
				return nil, fmt.Errorf("%s: aws_eks_addon.%s: addon_name is not a literal and there is no for_each", at, b.Labels[1])
			}
			m, err := tfeval.Load(filepath.Dir(f.Path), tf, tfeval.Inputs{})
			if err != nil {
				return nil, err
			}
			set, err := m.Eval(fe.Expr, nil)
			if err != nil || !set.IsWhollyKnown() || !(set.Type().IsSetType() || set.Type().IsListType() || set.Type().IsTupleType()) {
				return nil, fmt.Errorf("%s: aws_eks_addon.%s: for_each is not a set of add-on names known before apply", at, b.Labels[1])
			}
			for _, e := range set.AsValueSlice() {
				names[e.AsString()] = at
			}
		}
	}
	keys := make([]string, 0, len(names))
	for k := range names {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []deploy.Workload
	for _, addon := range keys {
		pods, ok := eksAddonPods[addon]
		if !ok {
			return nil, fmt.Errorf("%s: EKS add-on %q: the harness does not know the pods it runs (harness/platform/addons.go)", names[addon], addon)
		}
		for _, p := range pods {
			w := deploy.Workload{Name: "EKSAddon/kube-system/" + p.name, Source: names[addon] + " (EKS add-on " + addon + ", its default requests)",
				Namespace: "kube-system", Replicas: p.replicas, DaemonSet: p.daemonSet}
			if p.daemonSet {
				w.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}}
			} else {
				w.Spec.Tolerations = []corev1.Toleration{{Key: "CriticalAddonsOnly", Operator: corev1.TolerationOpExists}}
			}
			for i, c := range p.containers {
				cpu, mem, _ := strings.Cut(c, "/")
				req := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}
				if mem != "" {
					req[corev1.ResourceMemory] = resource.MustParse(mem)
				}
				w.Spec.Containers = append(w.Spec.Containers, corev1.Container{Name: fmt.Sprintf("c%d", i), Resources: corev1.ResourceRequirements{Requests: req}})
			}
			out = append(out, w)
		}
	}
	return out, nil
}

// IsNodeAgent reports whether a workload is a per-node agent that belongs on every node, GPU nodes included: the
// NVIDIA device plugin, or a DaemonSet of an EKS add-on (kube-proxy, aws-node, the EBS CSI node).
func IsNodeAgent(w deploy.Workload) bool {
	return IsDevicePlugin(w) || (w.DaemonSet && gpu.IsNodeAgent(w.Name))
}

// IsEKSAddon reports whether a workload stands for an EKS add-on's pods (eksAddonWorkloads).
func IsEKSAddon(w deploy.Workload) bool { return strings.HasPrefix(w.Name, "EKSAddon/") }
