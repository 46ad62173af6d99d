package cluster

import (
	"context"

	"k8s.io/client-go/rest"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/shape"
)

// Cluster is a Kubernetes cluster shaped like the EKS cluster Terraform declares.
type Cluster interface {
	// Start brings the cluster up and returns once every node is Ready. A failed Start undoes what it started.
	Start(ctx context.Context) error
	// Stop tears down what Start created. It is safe to call more than once and after a failed Start.
	Stop(ctx context.Context) error
	// RESTConfig is an admin client configuration; valid after Start.
	RESTConfig() *rest.Config
	// Kubeconfig is the path of an admin kubeconfig file; valid after Start.
	Kubeconfig() string
	// Shape is the node layout the cluster has now: the shape it was built from, with groups scaled since.
	Shape() *shape.Shape
	// Emulated reports whether the nodes are simulated (nothing really runs on them, GPUs are advertised by the
	// harness): then upstream admission webhooks are left out, workflow manifests are created for real and probes
	// stay. False for a real cluster (e.g. EKS), where creating workflows would start real GPU work.
	Emulated() bool
}

// Scaler is implemented by backends whose nodes can be added and removed at run time (embedded; existing EKS
// clusters given AWS access, existing.Scaling). Group sizes
// are read back from Cluster.Shape; backends without a Scaler report scaling steps as skipped.
type Scaler interface {
	// ScaleGroup sets the number of nodes of a group, creating or deleting nodes at the end of the group.
	ScaleGroup(ctx context.Context, group string, size int) error
	// RemoveNode deletes one node as if its instance were terminated.
	RemoveNode(ctx context.Context, name string) error
}
