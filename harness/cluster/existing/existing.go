// Package existing attaches the harness to a cluster someone else runs (for example the real EKS cluster of the
// nightly tier), through a kubeconfig. Start checks the cluster answers; Stop leaves it alone.
package existing

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/shape"
)

// Config names the kubeconfig (and optionally its context) of the cluster.
type Config struct {
	Shape      *shape.Shape
	Kubeconfig string
	Context    string
	// Emulated says the cluster's nodes are simulated (an embedded cluster attached through its kubeconfig, as
	// the nightly's flow runs in make test): upstream admission webhooks are then left out, as on any emulated
	// cluster, since nothing would serve them.
	Emulated bool
}

// Cluster is a cluster the harness did not create.
type Cluster struct {
	cfg  Config
	rest *rest.Config
}

// New validates cfg.
func New(cfg Config) (*Cluster, error) {
	if cfg.Shape == nil {
		return nil, errors.New("existing: Config.Shape is required")
	}
	if cfg.Kubeconfig == "" {
		return nil, errors.New("existing: a kubeconfig path is required (--kubeconfig)")
	}
	return &Cluster{cfg: cfg}, nil
}

// Start loads the kubeconfig and checks that the API server answers.
func (c *Cluster) Start(ctx context.Context) error {
	loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: c.cfg.Kubeconfig},
		&clientcmd.ConfigOverrides{CurrentContext: c.cfg.Context})
	rc, err := loader.ClientConfig()
	if err != nil {
		return fmt.Errorf("load kubeconfig %s: %w", c.cfg.Kubeconfig, err)
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	if _, err := cs.Discovery().ServerVersion(); err != nil {
		return fmt.Errorf("reach the cluster of %s: %w", c.cfg.Kubeconfig, err)
	}
	c.rest = rc
	return nil
}

// Stop does nothing: the cluster is not ours.
func (c *Cluster) Stop(context.Context) error { return nil }

// RESTConfig returns the kubeconfig's client configuration.
func (c *Cluster) RESTConfig() *rest.Config { return rest.CopyConfig(c.rest) }

// Kubeconfig returns the kubeconfig path.
func (c *Cluster) Kubeconfig() string { return c.cfg.Kubeconfig }

// Shape returns the layout the cluster is expected to have.
func (c *Cluster) Shape() *shape.Shape { return c.cfg.Shape.Clone() }

// Emulated is false for a real cluster (e.g. EKS: it runs what is created on it), true when Config says its
// nodes are simulated.
func (c *Cluster) Emulated() bool { return c.cfg.Emulated }
