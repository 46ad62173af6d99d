package infra

import (
	"fmt"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/platform"
)

// UpgradePins lists what in terraform/ would not follow a cluster_version change: an aws_eks_node_group without
// `version` (EKS sets it to the cluster's at creation and keeps it; Terraform then sees no diff, so nothing rolls
// the nodes after the control plane moves), and an aws_eks_addon without `addon_version` (EKS does not update
// add-ons with the control plane; kube-proxy in particular must follow the minor). Each finding names file:line.
func UpgradePins(p *platform.Platform) ([]string, error) {
	m, err := readTerraform(p.Terraform)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, b := range m.resources("aws_eks_node_group") {
		if v, _ := b.attr("version"); v == "" {
			out = append(out, fmt.Sprintf("%s: aws_eks_node_group.%s pins no version: after the control plane moves its nodes stay at the old minor and Terraform shows no change (set version = the cluster's version)", at(b.DefRange()), b.Labels[1]))
		}
	}
	for _, b := range m.resources("aws_eks_addon") {
		if v, _ := b.attr("addon_version"); v == "" {
			out = append(out, fmt.Sprintf("%s: aws_eks_addon.%s pins no addon_version: EKS does not update add-ons with the control plane (kube-proxy must follow the minor); resolve it per cluster version (data aws_eks_addon_version)", at(b.DefRange()), b.Labels[1]))
		}
	}
	return out, nil
}

// Addons lists the EKS add-ons terraform/ declares (resource addresses with their addon_version expressions).
func Addons(p *platform.Platform) ([]string, error) {
	m, err := readTerraform(p.Terraform)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, b := range m.resources("aws_eks_addon") {
		v, _ := b.attr("addon_version")
		out = append(out, fmt.Sprintf("aws_eks_addon.%s (addon_version = %s)", b.Labels[1], v))
	}
	return out, nil
}
