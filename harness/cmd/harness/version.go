package main

import (
	"context"
	"fmt"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/internal/k8sversion"
	"runtime/debug"
)

func runVersion(context.Context, []string) error {
	fmt.Printf("kubernetes components: %s\n", k8sversion.Get())
	if bi, ok := debug.ReadBuildInfo(); ok {
		fmt.Printf("go: %s\n", bi.GoVersion)
		for _, d := range bi.Deps {
			switch d.Path {
			case "k8s.io/kubernetes", "sigs.k8s.io/kwok", "go.etcd.io/etcd/server/v3", "helm.sh/helm/v3", "sigs.k8s.io/kind":
				fmt.Printf("%s %s\n", d.Path, d.Version)
			}
		}
	}
	return nil
}
