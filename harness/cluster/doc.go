// Package cluster defines the Cluster interface the harness runs against and the helpers every backend shares:
// registering nodes from a shape, waiting for them to be Ready, and writing kubeconfigs.
//
// Backends live in sibling packages: embedded (default: an in-process control plane with kwok-simulated nodes),
// kind (Docker) and existing (any kubeconfig, e.g. the real EKS cluster).
package cluster
