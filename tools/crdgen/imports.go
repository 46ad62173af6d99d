package main

// The API packages are loaded from source by controller-tools; importing them here keeps their modules in
// go.mod at the pinned versions and records those versions in the binary's build info (see provenance).
import (
	_ "github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	_ "github.com/ray-project/kuberay/ray-operator/apis/ray/v1"
	_ "sigs.k8s.io/karpenter/pkg/apis/v1"

	_ "github.com/eks-mlops/eks-mlops-enterprise-grade/tools/crdgen/kserve/v1beta1"
)
