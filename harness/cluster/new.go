package cluster

import (
	"context"
	"fmt"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cluster/embedded"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cluster/existing"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cluster/kind"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/shape"
)

// The backends New knows.
const (
	Embedded = "embedded"
	Kind     = "kind"
	Existing = "existing"
)

var (
	_ Cluster = (*embedded.Cluster)(nil)
	_ Scaler  = (*embedded.Cluster)(nil)
	_ Cluster = (*kind.Cluster)(nil)
	_ Cluster = (*existing.Cluster)(nil)
	_ Scaler  = (*existing.Scaling)(nil)

	_ Keeper     = (*embedded.Cluster)(nil)
	_ NodeRoller = (*embedded.Cluster)(nil)
	_ Upgrader   = (*embedded.Cluster)(nil)

	_ Snapshotter = (*embedded.Cluster)(nil)
)

// Config is what any backend needs.
type Config struct {
	// Backend is the name of one of Backends; empty means Embedded.
	Backend string
	Shape   *shape.Shape
	// RunDir is the parent of the run directory (embedded, kind); default the system temp dir.
	RunDir string
	// Kubeconfig is the cluster's kubeconfig (existing).
	Kubeconfig string
	// Keep keeps the run directory after Stop (embedded), for debugging.
	Keep bool
	// PreAdvertisedGPUs makes emulated GPU nodes advertise nvidia.com/gpu from the start; by default (embedded)
	// they advertise it only while an NVIDIA device plugin pod runs on them, as on EKS.
	PreAdvertisedGPUs bool
	// FromSnapshot starts the cluster from a directory a Snapshotter wrote (backends declaring Snapshot only).
	FromSnapshot string
}

// ErrUnknownBackend is returned (wrapped) for a backend name New does not know.
var ErrUnknownBackend = fmt.Errorf("unknown cluster backend")

// New builds the backend cfg names, not started. kind checks for a Docker engine first and refuses at once
// without one.
func New(ctx context.Context, cfg Config) (Cluster, error) {
	c, err := build(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if m := missing(c); len(m) > 0 {
		return nil, fmt.Errorf("cluster backend %q declares capabilities it does not implement: %v", cfg.Backend, m)
	}
	return c, nil
}

func build(ctx context.Context, cfg Config) (Cluster, error) {
	if b, ok := Lookup(cfg.Backend); ok && cfg.FromSnapshot != "" && !b.Capabilities.Snapshot {
		return nil, fmt.Errorf("cluster backend %q cannot start from a snapshot", b.Name)
	}
	switch cfg.Backend {
	case Embedded, "":
		return embedded.New(embedded.Config{Shape: cfg.Shape, RunDir: cfg.RunDir, KeepRunDir: cfg.Keep, PreAdvertisedGPUs: cfg.PreAdvertisedGPUs,
			FromSnapshot: cfg.FromSnapshot})
	case Kind:
		if err := kind.CheckDocker(ctx); err != nil {
			return nil, err
		}
		return kind.New(kind.Config{Shape: cfg.Shape, RunDir: cfg.RunDir})
	case Existing:
		return existing.New(existing.Config{Shape: cfg.Shape, Kubeconfig: cfg.Kubeconfig})
	}
	var names []string
	for _, b := range Backends {
		names = append(names, b.Name)
	}
	return nil, fmt.Errorf("%w %q: want one of %v", ErrUnknownBackend, cfg.Backend, names)
}
