// Package cluster is the Kubernetes side of the harness: the Cluster interface every check runs against, what
// each backend declares it can do beyond it (Backends, Capabilities, with their interfaces Scaler, Keeper,
// NodeRoller and Upgrader; callers ask Of and the As* accessors, never a backend's name), and New, the one
// factory, which refuses a backend declaring a capability it does not implement.
//
// Backends live in sibling packages — embedded (default: a control plane in a child process with kwok-simulated
// nodes), kind (Docker) and existing (any kubeconfig, e.g. the real EKS cluster) — and share the node helpers in
// cluster/node. Whether pods really run on a cluster is the backend's property (Emulated), not a caller's flag.
package cluster
