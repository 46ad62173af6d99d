package main

import (
	"context"
	"fmt"
	"runtime/debug"

	"k8s.io/component-base/version"
)

func runVersion(context.Context, []string) error {
	fmt.Printf("kubernetes components: %s\n", version.Get().GitVersion)
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
