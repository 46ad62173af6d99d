// Package gpu holds the domain facts about NVIDIA GPUs on EKS that every other package shares, each once: the
// extended resource and taint key, how many GPUs a pod asks for, and how the NVIDIA device plugin is recognised.
package gpu

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Resource is the extended resource the NVIDIA device plugin advertises and pods request.
const Resource = corev1.ResourceName("nvidia.com/gpu")

// TaintKey is the key of the taint GPU node groups carry (EKS's and NVIDIA's convention: the resource name).
const TaintKey = string(Resource)

// QuotaKey is the ResourceQuota key that caps GPU requests in a namespace.
const QuotaKey = corev1.ResourceName("requests." + string(Resource))

// PresentLabel is the node label NVIDIA's GPU feature discovery sets on GPU nodes; the device plugin chart's
// default node affinity requires it (or node-feature-discovery's PCI labels).
const PresentLabel = "nvidia.com/gpu.present"

// DevicePlugin is the name of the NVIDIA device plugin's chart, and the stem of its DaemonSet's name.
const DevicePlugin = "nvidia-device-plugin"

// Requested is the number of GPUs one pod with this spec requests: per container, the request, or the limit
// where the request is omitted (the API server defaults one to the other for extended resources).
func Requested(spec *corev1.PodSpec) int64 {
	var n int64
	for _, c := range spec.Containers {
		q, ok := c.Resources.Requests[Resource]
		if !ok {
			q, ok = c.Resources.Limits[Resource]
		}
		if ok {
			n += q.Value()
		}
	}
	return n
}

// IsDevicePlugin reports whether a workload or pod name belongs to the NVIDIA device plugin.
func IsDevicePlugin(name string) bool { return strings.Contains(name, DevicePlugin) }

// AddonMarker is in the name of every workload the platform model derives from an EKS add-on
// (EKSAddon/kube-system/<name>), and so in its probe's and pods' names.
const AddonMarker = "eksaddon"

// IsNodeAgent reports whether a workload or pod name belongs to a per-node agent allowed beside GPU work: the
// device plugin, or a DaemonSet of an EKS add-on (the caller knows it is a DaemonSet).
func IsNodeAgent(name string) bool {
	return IsDevicePlugin(name) || strings.Contains(strings.ToLower(name), AddonMarker)
}
