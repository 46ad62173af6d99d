package kind

import (
	"fmt"
	"sort"

	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/yaml"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/shape"
)

// kubeletOwned labels are set by the kubelet itself in a kind node; the node's own name and hostname differ from
// the emulated one, so they are not passed through.
var kubeletOwned = map[string]bool{"kubernetes.io/hostname": true, "kubernetes.io/os": true, "kubernetes.io/arch": true}

// ClusterConfig returns the kind cluster configuration for s: a control plane plus one worker per node of the shape.
func ClusterConfig(s *shape.Shape, nodeImage string) (*v1alpha4.Cluster, error) {
	c := &v1alpha4.Cluster{
		TypeMeta: v1alpha4.TypeMeta{Kind: "Cluster", APIVersion: "kind.x-k8s.io/v1alpha4"},
		Name:     s.ClusterName,
		Nodes:    []v1alpha4.Node{{Role: v1alpha4.ControlPlaneRole, Image: nodeImage}},
	}
	for _, n := range s.Nodes() {
		labels := map[string]string{}
		for k, v := range n.Labels {
			if !kubeletOwned[k] {
				labels[k] = v
			}
		}
		patch, err := joinPatch(n)
		if err != nil {
			return nil, err
		}
		c.Nodes = append(c.Nodes, v1alpha4.Node{Role: v1alpha4.WorkerRole, Image: nodeImage, Labels: labels,
			KubeadmConfigPatches: []string{patch}})
	}
	return c, nil
}

// joinPatch registers the node with the group's taints and its name, through kubeadm's JoinConfiguration.
func joinPatch(n shape.Node) (string, error) {
	taints := make([]map[string]string, 0, len(n.Taints))
	for _, t := range n.Taints {
		taints = append(taints, map[string]string{"key": t.Key, "value": t.Value, "effect": string(t.Effect)})
	}
	sort.Slice(taints, func(i, j int) bool { return taints[i]["key"] < taints[j]["key"] })
	patch := map[string]any{
		"kind": "JoinConfiguration",
		"nodeRegistration": map[string]any{
			"taints": taints,
		},
	}
	b, err := yaml.Marshal(patch)
	if err != nil {
		return "", fmt.Errorf("encode join patch for %s: %w", n.Name, err)
	}
	return string(b), nil
}
