// Package k8sversion tells which Kubernetes release the components built into this binary (the embedded control
// plane) come from, however the binary was built. The Makefile sets component-base's version with -ldflags, as
// Kubernetes' own build does; a plain `go build` or `go install` leaves its placeholder v0.0.0-master, which
// charts with a kubeVersion constraint refuse. Then the version comes from the build's module information.
package k8sversion

import (
	"runtime/debug"
	"strings"

	"k8s.io/component-base/version"
)

// Placeholder reports whether component-base still carries its placeholder (no -ldflags).
func Placeholder() bool { return strings.HasPrefix(version.Get().GitVersion, "v0.0.0") }

// Get is the version the components report: -ldflags' when given, else k8s.io/kubernetes's in the build's module
// information ("v1.37.2"); the placeholder when neither is there.
func Get() string {
	if !Placeholder() {
		return version.Get().GitVersion
	}
	if v := FromBuildInfo(); v != "" {
		return v
	}
	return version.Get().GitVersion
}

// FromBuildInfo is the version of k8s.io/kubernetes in the build's module information ("" when absent).
func FromBuildInfo() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, d := range bi.Deps {
		if d.Path != "k8s.io/kubernetes" {
			continue
		}
		if d.Replace != nil && d.Replace.Version != "" {
			return d.Replace.Version
		}
		return d.Version
	}
	return ""
}
