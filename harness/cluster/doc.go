// Package cluster is the Kubernetes side of the harness: the Cluster interface every check runs against, the
// optional Scaler, and New, the one factory that picks a backend by name.
//
// Backends live in sibling packages — embedded (default: a control plane in a child process with kwok-simulated
// nodes), kind (Docker) and existing (any kubeconfig, e.g. the real EKS cluster) — and share the node helpers in
// cluster/node. Whether pods really run on a cluster is the backend's property (Emulated), not a caller's flag.
package cluster
