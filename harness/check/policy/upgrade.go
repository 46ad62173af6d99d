package policy

import (
	"fmt"
	"time"

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

// TargetRefused evaluates cluster_version's own validations (as terraform plan would, at now) with the target
// version: "" when they accept it, else why not, naming the validation's file:line and the calendar.
func TargetRefused(p *platform.Platform, to string, now time.Time) (string, error) {
	m, err := readTerraform(p.Terraform)
	if err != nil {
		return "", err
	}
	m.vars = p.Vars
	variable, ok := m.find("variable", "cluster_version")
	if !ok {
		return "", nil
	}
	tf, err := m.eval(now)
	if err != nil {
		return "", err
	}
	for _, val := range variable.nested("validation") {
		cond, ok := val.Body.Attributes["condition"]
		if !ok {
			continue
		}
		accepted, err := validates(tf, m, cond, to)
		if err != nil {
			return "", fmt.Errorf("%s: cannot evaluate the validation of cluster_version: %w", at(cond.SrcRange), err)
		}
		if !accepted {
			cal, _ := calendar(tf)
			why := ""
			if _, has := cal[to]; !has && cal != nil {
				why = fmt.Sprintf(": local.%s has no %s (add AWS's end-of-standard-support date for it)", SupportCalendar, to)
			}
			return fmt.Sprintf("%s: cluster_version = %q fails its validation at plan%s", at(cond.SrcRange), to, why), nil
		}
	}
	return "", nil
}
