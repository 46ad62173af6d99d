package scenario

// APIVersion and Kind every scenario file carries.
const (
	APIVersion = "harness.mlops.io/v1alpha1"
	Kind       = "Scenario"
)

// Scenario is one scenario file.
type Scenario struct {
	APIVersion string   `yaml:"apiVersion"`
	Kind       string   `yaml:"kind"`
	Metadata   Metadata `yaml:"metadata"`
	Spec       Spec     `yaml:"spec"`
	// File is where it was loaded from.
	File string `yaml:"-"`
	// lines are the keys' lines in File, for validation errors.
	lines map[string]int
}

// Metadata names the scenario.
type Metadata struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
}

// Spec is the environment and the steps.
type Spec struct {
	Environment string `yaml:"environment"`
	// PreAdvertisedGPUs makes GPU nodes advertise nvidia.com/gpu from the start, for scenarios that deploy no
	// NVIDIA device plugin (they apply GPU pods directly). Default off: GPUs appear only where the device
	// plugin's DaemonSet runs, as on EKS.
	PreAdvertisedGPUs bool `yaml:"preAdvertisedGPUs"`
	// Karpenter runs the real Karpenter (kwok provider) with the platform's NodePools, translated to the kwok node
	// class, for the whole scenario (the environment must declare them: enable_karpenter). Default off: the
	// node-group scenarios are about the node groups alone.
	Karpenter bool   `yaml:"karpenter"`
	Steps     []Step `yaml:"steps"`
}

// Step does exactly one action, then checks its expectations (if any).
type Step struct {
	Name           string          `yaml:"name"`
	Deploy         *Deploy         `yaml:"deploy"`
	Apply          *Apply          `yaml:"apply"`
	ScaleNodeGroup *ScaleNodeGroup `yaml:"scaleNodeGroup"`
	LoseNode       *LoseNode       `yaml:"loseNode"`
	NightScaleDown *NightScaleDown `yaml:"nightScaleDown"`
	RollNodeGroup  *RollNodeGroup  `yaml:"rollNodeGroup"`
	// UpgradeControlPlane is named upgradeControlPlane in YAML.
	UpgradeControlPlane *UpgradeControlPlane `yaml:"upgradeControlPlane"`
	Expect              *Expect              `yaml:"expect"`
	line                int
}

// Deploy runs `harness check`'s deploy through the same engine: every chart the run's chart sources hold
// (in-repo charts always; upstream ones with --charts-dir/--fetch-charts) and probes for every declared workload.
type Deploy struct {
	// ScaleForGPUs lets the step scale GPU groups (within max_size) for Pending GPU work.
	ScaleForGPUs bool `yaml:"scaleForGPUs"`
}

// Apply creates Kubernetes objects, written inline.
type Apply struct {
	Objects []map[string]any `yaml:"objects"`
}

// ScaleNodeGroup sets a node group's size (within 0..max_size).
type ScaleNodeGroup struct {
	Group string `yaml:"group"`
	Size  int    `yaml:"size"`
}

// LoseNode deletes a node as if its instance were terminated, and its pods as the pod garbage collector would.
type LoseNode struct {
	Node string `yaml:"node"`
}

// UpgradeControlPlane upgrades the control plane in place, as EKS's UpdateClusterVersion does: the embedded
// control plane restarts at the minor To (default the next one) on the same etcd data; nodes keep their kubelet
// version until their group is rolled (rollNodeGroup). One minor at a time, as on EKS.
type UpgradeControlPlane struct {
	To string `yaml:"to"`
}

// RollNodeGroup rolls a node group as an EKS managed node group update does (harness/rollout): new nodes surged
// at KubeletVersion, the old ones cordoned and drained through the Eviction API honouring PodDisruptionBudgets,
// the workloads placed again, the old nodes removed. ExpectBlockedBy names a PodDisruptionBudget (namespace/name)
// that must stop the roll, as EKS's PodEvictionFailure does: a fault scenario passes when the fault is caught.
type RollNodeGroup struct {
	Group string `yaml:"group"`
	// KubeletVersion the new nodes report; default the control plane's minor (after upgradeControlPlane, the
	// new one): a kubelet is never newer than its control plane.
	KubeletVersion string `yaml:"kubeletVersion"`
	// Force is EKS's forced update: pods whose budget refuses eviction are deleted anyway.
	Force bool `yaml:"force"`
	// EvictionTimeoutSeconds bounds the retries of a refused eviction (default 30; EKS: 15 minutes).
	EvictionTimeoutSeconds int    `yaml:"evictionTimeoutSeconds"`
	ExpectBlockedBy        string `yaml:"expectBlockedBy"`
}

// NightScaleDown scales Deployments and StatefulSets in the namespaces to zero, as kube-downscaler does at night.
type NightScaleDown struct {
	Namespaces []string `yaml:"namespaces"`
}

// Expect holds counts that must all hold (within WithinSeconds, default 60) after the step. Unset fields are not
// checked.
type Expect struct {
	// WithinSeconds bounds the wait for the expectations (default 60); the result says when they held.
	WithinSeconds int `yaml:"withinSeconds"`
	// GPUPodsRunning / GPUPodsPending count pods requesting nvidia.com/gpu.
	GPUPodsRunning *int `yaml:"gpuPodsRunning"`
	GPUPodsPending *int `yaml:"gpuPodsPending"`
	// SystemPodsPending counts pending pods requesting no GPU.
	SystemPodsPending *int `yaml:"systemPodsPending"`
	// NoGPUPodsOffGPUNodes / NoSystemPodsOnGPUNodes: isolation (the device plugin excepted).
	Isolation bool `yaml:"isolation"`
	// PendingReason must appear in every pending GPU pod's reason: the scheduler's message, and with Karpenter its
	// latest event on the pod (why it launched nothing for it).
	PendingReason string `yaml:"pendingReason"`
	// ReadyNodes per node group.
	ReadyNodes map[string]int `yaml:"readyNodes"`
	// NodePoolNodes counts the nodes Karpenter launched per NodePool (Ready or not: a node being consolidated
	// away still counts until it is deleted).
	NodePoolNodes map[string]int `yaml:"nodePoolNodes"`
}
