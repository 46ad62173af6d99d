//go:build tools

package main

// The API packages are loaded from source by controller-tools (parsed and type-checked in process, never compiled):
// importing them here, in a file only the "tools" build tag compiles, keeps their modules in go.mod at the pinned
// versions without compiling their dependency graphs into crdgen (Argo CD's API package alone brings ~1,200
// packages: 1,569 to compile with it, 327 without; minutes on a fresh 2-core machine). provenance reads the versions
// from the module graph.
import (
	_ "github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	_ "github.com/ray-project/kuberay/ray-operator/apis/ray/v1"
	_ "sigs.k8s.io/karpenter/pkg/apis/v1"

	_ "github.com/eks-mlops/eks-mlops-enterprise-grade/tools/crdgen/kserve/v1beta1"
)
