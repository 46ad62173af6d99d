package cluster

import (
	"context"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cluster/embedded"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cluster/existing"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cluster/kind"
)

// Capabilities are what a backend can do beyond the Cluster interface. Each backend declares them once, in
// Backends (kind's and kwok's way: one documented list, not type assertions scattered over the callers); New
// and a test check that a backend implements the interface behind every capability it declares, and callers
// ask Of(c) or the As* accessors, never the backend's name.
type Capabilities struct {
	// Creates: the harness creates the cluster (and its kubeconfig) and destroys it at the end; the CRDs it
	// generates from upstream types are installed on it. Otherwise the cluster is given (--kubeconfig) and gets
	// its CRDs from the operators' charts.
	Creates bool
	// RunDir: the cluster owns a run directory (the kubeconfig's), removed on every exit path — SIGKILL included —
	// in which the harness keeps a run's scratch work (Argo CD's, the workload tier's); stale ones of killed runs
	// are swept before a start, and Keeper keeps it on request or on failure.
	RunDir bool
	// Scale: node groups can be resized and nodes removed at run time (Scaler).
	Scale bool
	// KWOK: kwok runs the nodes, including nodes another controller creates: Karpenter's kwok provider can
	// launch nodes into it.
	KWOK bool
	// RollNodes: nodes can be surged at another kubelet version and removed (NodeRoller), for node-group rolls.
	RollNodes bool
	// Upgrade: the control plane can be upgraded in place one minor at a time (Upgrader).
	Upgrade bool
	// DevicePluginGPUs: emulated GPU nodes advertise nvidia.com/gpu only while an NVIDIA device plugin pod runs
	// on them, as on EKS (Config.PreAdvertisedGPUs: from the start).
	DevicePluginGPUs bool
	// Snapshot: the running cluster's state (objects, emulated nodes and their pods, certificates) can be written
	// to a directory (Snapshotter) and a new cluster started from it (Config.FromSnapshot): deploy once, fork many.
	Snapshot bool
}

// Snapshotter writes the running cluster's state to dir, from which Config.FromSnapshot starts a fork.
type Snapshotter interface {
	Snapshot(ctx context.Context, dir string) error
}

// Keeper is a backend whose run directory can be kept after Stop; Keep returns its path.
type Keeper interface{ Keep() string }

// NodeRoller surges and removes nodes (harness/rollout's Nodes).
type NodeRoller interface {
	SurgeGroup(ctx context.Context, group string, n int, kubeletVersion string) ([]string, error)
	RemoveNode(ctx context.Context, name string) error
}

// Upgrader upgrades the control plane in place, as EKS's UpdateClusterVersion does.
type Upgrader interface {
	UpgradeControlPlane(ctx context.Context, version string) error
	ControlPlaneVersion() string
}

// Backend is one cluster backend: its name (--backend), what it is, and what it can do.
type Backend struct {
	Name, Summary string
	Capabilities  Capabilities
}

// Backends are the backends New knows, default first.
var Backends = []Backend{
	{Name: Embedded, Summary: "an embedded control plane (kube-apiserver, controller-manager, scheduler) with kwok nodes shaped by Terraform's node groups",
		Capabilities: Capabilities{Creates: true, RunDir: true, Scale: true, KWOK: true, RollNodes: true, Upgrade: true, DevicePluginGPUs: true,
			Snapshot: true}},
	{Name: Kind, Summary: "kind (Docker): real kubelets in containers, labelled and tainted like the node groups",
		Capabilities: Capabilities{Creates: true}},
	{Name: Existing, Summary: "a cluster given by --kubeconfig (EKS, for the nightly); scaling through its EKS node groups when AWS access is given",
		Capabilities: Capabilities{}},
}

// Lookup returns the backend called name ("" is the default, embedded).
func Lookup(name string) (Backend, bool) {
	if name == "" {
		return Backends[0], true
	}
	for _, b := range Backends {
		if b.Name == name {
			return b, true
		}
	}
	return Backend{}, false
}

// Of is what c's backend declares it can do.
func Of(c Cluster) Capabilities {
	var caps Capabilities
	switch c.(type) {
	case *embedded.Cluster:
		caps = mustLookup(Embedded).Capabilities
	case *kind.Cluster:
		caps = mustLookup(Kind).Capabilities
	case *existing.Scaling:
		caps = mustLookup(Existing).Capabilities
		caps.Scale = true // an existing cluster given AWS access to its EKS node groups
	case *existing.Cluster:
		caps = mustLookup(Existing).Capabilities
	}
	return caps
}

func mustLookup(name string) Backend {
	b, ok := Lookup(name)
	if !ok {
		panic("cluster: no backend " + name)
	}
	return b
}

// missing lists the capabilities c declares but does not implement (empty for a sound backend).
func missing(c Cluster) []string {
	caps := Of(c)
	var out []string
	check := func(declared bool, name string, ok bool) {
		if declared && !ok {
			out = append(out, name)
		}
	}
	_, sc := c.(Scaler)
	_, kp := c.(Keeper)
	_, nr := c.(NodeRoller)
	_, up := c.(Upgrader)
	_, sn := c.(Snapshotter)
	check(caps.Scale, "Scale (Scaler)", sc)
	check(caps.RunDir, "RunDir (Keeper)", kp)
	check(caps.RollNodes, "RollNodes (NodeRoller)", nr)
	check(caps.Upgrade, "Upgrade (Upgrader)", up)
	check(caps.Snapshot, "Snapshot (Snapshotter)", sn)
	return out
}

// AsScaler is c's Scaler when its backend declares Scale.
func AsScaler(c Cluster) (Scaler, bool) {
	s, ok := c.(Scaler)
	return s, ok && Of(c).Scale
}

// AsSnapshotter is c's Snapshotter when its backend declares Snapshot.
func AsSnapshotter(c Cluster) (Snapshotter, bool) {
	s, ok := c.(Snapshotter)
	return s, ok && Of(c).Snapshot
}

// AsKeeper is c's Keeper when its backend declares RunDir.
func AsKeeper(c Cluster) (Keeper, bool) {
	k, ok := c.(Keeper)
	return k, ok && Of(c).RunDir
}

// AsNodeRoller is c's NodeRoller when its backend declares RollNodes.
func AsNodeRoller(c Cluster) (NodeRoller, bool) {
	n, ok := c.(NodeRoller)
	return n, ok && Of(c).RollNodes
}

// AsUpgrader is c's Upgrader when its backend declares Upgrade.
func AsUpgrader(c Cluster) (Upgrader, bool) {
	u, ok := c.(Upgrader)
	return u, ok && Of(c).Upgrade
}
