package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cluster"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/controllers/karpenter"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/deploy"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/gpu"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/platform"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/shape"
)

// KarpenterConfig says where the real Karpenter comes from (make karpenter).
type KarpenterConfig struct {
	// Binary is bin/karpenter; KWOKCRDs bin/karpenter-crds (the kwok provider's node class); CRDsDir bin/crds
	// (NodePool and NodeClaim generated, EC2NodeClass as the AWS provider's module publishes it).
	Binary, KWOKCRDs, CRDsDir string
	// AWSBinary is bin/karpenter-aws (make karpenter-aws): when it is built and the platform declares an
	// EC2NodeClass, the real AWS provider runs in place of the generic kwok one, against moto holding the AWS side
	// Terraform declares (moto from MotoVenv, installed there when missing). Empty: the generic provider.
	AWSBinary, MotoVenv string
}

// KarpenterConfigAt is the configuration of the repository at root's build directory.
func KarpenterConfigAt(root string) KarpenterConfig {
	bin := filepath.Join(root, "bin")
	return KarpenterConfig{Binary: filepath.Join(bin, "karpenter"), KWOKCRDs: filepath.Join(bin, "karpenter-crds"), CRDsDir: filepath.Join(bin, "crds"),
		AWSBinary: filepath.Join(bin, "karpenter-aws"), MotoVenv: filepath.Join(root, ".venv")}
}

// The providers StartKarpenter runs.
const (
	// ProviderAWS is Karpenter's AWS provider in kwok mode (github.com/aws/karpenter-provider-aws/kwok).
	ProviderAWS = "aws"
	// ProviderKWOK is Karpenter's generic kwok provider (sigs.k8s.io/karpenter/kwok) on translated NodePools.
	ProviderKWOK = "kwok"
)

var (
	nodePoolsGVR  = schema.GroupVersionResource{Group: "karpenter.sh", Version: "v1", Resource: "nodepools"}
	nodeClaimsGVR = schema.GroupVersionResource{Group: "karpenter.sh", Version: "v1", Resource: "nodeclaims"}
	kwokClassGVR  = schema.GroupVersionResource{Group: "karpenter.kwok.sh", Version: "v1alpha1", Resource: "kwoknodeclasses"}
)

// karpenterRun is the Karpenter the run started.
type karpenterRun struct {
	ctl *karpenter.Controller // the generic provider, or nil
	aws *awsRun               // the AWS provider and what it runs against, or nil
	dir string
	// pools are the platform's NodePools as declared (before the translation).
	pools []platform.NodePool
}

// KarpenterRunning reports whether StartKarpenter started the controller.
func (e *Env) KarpenterRunning() bool { return e.karpenter != nil }

// NodePools are the platform's NodePools when Karpenter runs, else nil.
func (e *Env) NodePools() []platform.NodePool {
	if e.karpenter == nil {
		return nil
	}
	return e.karpenter.pools
}

// KarpenterStart is what StartKarpenter did: why it did not run Karpenter (Skipped), or the NodePools it handed
// over and the changes made to each, the instance types offered and how long the start took.
type KarpenterStart struct {
	// Skipped says why Karpenter was not started here (empty when it runs).
	Skipped string
	// Provider is ProviderAWS or ProviderKWOK.
	Provider string
	// NodeClasses are the EC2NodeClasses as the AWS provider judged them (ProviderAWS); AWSCreated is how many of
	// Terraform's resource instances the emulated apply created on moto for it.
	NodeClasses []NodeClassVerdict
	AWSCreated  int
	// AWSSide is how long moto and the emulated apply took to come up; AWSSideAhead whether they came up ahead, beside
	// the deploy (PrepareKarpenterAWS).
	AWSSide      time.Duration
	AWSSideAhead bool
	// Pools is how many NodePools were handed over; Changes the translation of each (the only change).
	Pools   int
	Changes []string
	// InstanceTypes is how many instance types the harness's catalog offers it.
	InstanceTypes int
	Took          time.Duration
}

// KarpenterAWSRuns reports whether StartKarpenter(cfg) runs the AWS provider: an embedded (kwok) cluster, NodePools
// and an EC2NodeClass declared, and cfg.AWSBinary built.
func (e *Env) KarpenterAWSRuns(cfg KarpenterConfig) bool {
	if e.Cluster == nil || !cluster.Of(e.Cluster).KWOK || cfg.AWSBinary == "" || len(e.Platform.NodePools()) == 0 || len(e.Platform.NodeClasses()) == 0 {
		return false
	}
	_, err := os.Stat(cfg.AWSBinary)
	return err == nil
}

// StartKarpenter runs the real Karpenter against an embedded cluster when the platform declares NodePools. With
// cfg.AWSBinary built and an EC2NodeClass declared, it is the AWS provider in kwok mode on the platform's
// EC2NodeClasses and NodePools unchanged, against moto holding what Terraform declares (startKarpenterAWS: its
// conditions on each EC2NodeClass are returned). Otherwise it is the generic kwok provider: its node class is
// created, every NodePool of the platform is handed to it translated (node class and the AWS provider's label
// keys: the only change, listed in what it returns), replacing the one the deploy created, and the controller
// started with instance types from the catalog. StopKarpenter stops either. It acts and reports what it did; an
// error is a start that failed (check judges both).
func (e *Env) StartKarpenter(ctx context.Context, cfg KarpenterConfig) (KarpenterStart, error) {
	ahead := e.awsAhead
	e.awsAhead = nil
	e.StopKarpenter() // a second start replaces the first controller, never leaks it
	e.awsAhead = ahead
	pools := e.Platform.NodePools()
	if len(pools) == 0 {
		return KarpenterStart{Skipped: fmt.Sprintf("the platform declares no Karpenter NodePool (enable_karpenter is off in terraform/env/%s.tfvars)", e.Platform.Env)}, nil
	}
	if !cluster.Of(e.Cluster).KWOK {
		return KarpenterStart{Skipped: "Karpenter's kwok provider needs a cluster whose nodes kwok runs (the embedded backend); on EKS the chart's controller launches real instances"}, nil
	}
	t0 := time.Now()
	aws := e.KarpenterAWSRuns(cfg)
	if _, err := os.Stat(cfg.Binary); err != nil && !aws {
		return KarpenterStart{Skipped: fmt.Sprintf("%s not built: run `make karpenter` (or `make karpenter-aws` for the AWS provider)", cfg.Binary)}, nil
	}
	dirs := []string{cfg.CRDsDir, cfg.KWOKCRDs}
	if aws {
		dirs = dirs[:1]
	}
	var set deploy.CRDSet
	for _, dir := range dirs {
		s, err := deploy.LoadCRDs(dir)
		if err != nil {
			return KarpenterStart{}, fmt.Errorf("%v (make crds karpenter)", err)
		}
		for _, c := range s.CRDs {
			if strings.HasSuffix(c.Spec.Group, "karpenter.sh") || strings.HasPrefix(c.Spec.Group, "karpenter.") {
				set.CRDs = append(set.CRDs, c)
			}
		}
	}
	if aws {
		return e.startKarpenterAWS(ctx, cfg, &set, t0)
	}
	if err := deploy.InstallCRDs(ctx, e.REST(), &set, time.Minute); err != nil && !apierrors.IsAlreadyExists(err) {
		return KarpenterStart{}, fmt.Errorf("install Karpenter's CRDs: %w", err)
	}
	dyn, err := dynamic.NewForConfig(e.REST())
	if err != nil {
		return KarpenterStart{}, err
	}
	class := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "karpenter.kwok.sh/v1alpha1", "kind": "KWOKNodeClass",
		"metadata": map[string]any{"name": karpenter.KWOKNodeClass}}}
	if _, err := dyn.Resource(kwokClassGVR).Create(ctx, class, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return KarpenterStart{}, fmt.Errorf("create KWOKNodeClass %s: %w", karpenter.KWOKNodeClass, err)
	}
	var changes []string
	for _, np := range pools {
		translated, ch, err := karpenter.Translate(np.Object.Unstructured)
		if err != nil {
			return KarpenterStart{}, fmt.Errorf("%s: %w", np.Object.Source, err)
		}
		// The deploy created the NodePool as declared (its node class is the AWS provider's, which does not run
		// here); nodeClassRef cannot change in place, so it is replaced by the translated one (Argo CD has stopped).
		if err := replace(ctx, dyn, translated); err != nil {
			return KarpenterStart{}, fmt.Errorf("NodePool %s: %w", np.Name, err)
		}
		changes = append(changes, fmt.Sprintf("NodePool %s (%s): %s", np.Name, np.Object.Source, strings.Join(ch, "; ")))
	}
	dir, err := os.MkdirTemp("", "harness-karpenter-")
	if err != nil {
		return KarpenterStart{}, err
	}
	ctl, err := karpenter.Start(ctx, karpenter.Config{Binary: cfg.Binary, Kubeconfig: e.Cluster.Kubeconfig(), Dir: dir, Zone: e.Platform.Shape.Zone})
	if err != nil {
		os.RemoveAll(dir)
		return KarpenterStart{}, fmt.Errorf("start Karpenter: %w", err)
	}
	e.karpenter = &karpenterRun{ctl: ctl, dir: dir, pools: pools}
	return KarpenterStart{Provider: ProviderKWOK, Pools: len(pools), Changes: changes, InstanceTypes: len(shape.InstanceTypes()), Took: time.Since(t0)}, nil
}

func replace(ctx context.Context, dyn dynamic.Interface, obj *unstructured.Unstructured) error {
	c := dyn.Resource(nodePoolsGVR)
	if err := c.Delete(ctx, obj.GetName(), metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := c.Get(ctx, obj.GetName(), metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	}); err != nil {
		return fmt.Errorf("the deployed NodePool did not go away: %w", err)
	}
	obj = obj.DeepCopy()
	obj.SetResourceVersion("")
	obj.SetUID("")
	_, err := c.Create(ctx, obj, metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict})
	return err
}

// StopKarpenter stops the controller StartKarpenter started and removes its directory (log, instance types).
func (e *Env) StopKarpenter() {
	e.stopAWSAhead()
	if e.karpenter == nil {
		return
	}
	if e.karpenter.ctl != nil {
		e.karpenter.ctl.Stop()
	}
	e.karpenter.aws.stop()
	os.RemoveAll(e.karpenter.dir)
	e.karpenter = nil
}

// KarpenterNode is a node Karpenter launched.
type KarpenterNode struct {
	Name, NodePool, InstanceType string
	GPUs                         int
	Ready                        bool
	Taints                       []corev1.Taint
}

// KarpenterNodes lists the nodes Karpenter launched (label karpenter.sh/nodepool), with their GPUs from the catalog.
func (e *Env) KarpenterNodes(ctx context.Context) ([]KarpenterNode, error) {
	nodes, err := e.clientset.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: karpenter.LabelNodePool})
	if err != nil {
		return nil, err
	}
	var out []KarpenterNode
	for _, n := range nodes.Items {
		k := KarpenterNode{Name: n.Name, NodePool: n.Labels[karpenter.LabelNodePool], InstanceType: n.Labels[corev1.LabelInstanceTypeStable], Taints: n.Spec.Taints}
		if it, err := shape.Lookup(k.InstanceType); err == nil {
			k.GPUs = it.GPUs
		}
		for _, c := range n.Status.Conditions {
			k.Ready = k.Ready || (c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue)
		}
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// waitKarpenter waits until Karpenter has acted on the pending GPU pods: none left Pending, or nothing in flight
// (every NodeClaim launched and its node Ready) with the same pods Pending for a while (Karpenter said why on them).
func (e *Env) waitKarpenter(ctx context.Context, timeout time.Duration) error {
	dyn, err := dynamic.NewForConfig(e.REST())
	if err != nil {
		return err
	}
	var last string
	var since time.Time
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		pods, err := e.clientset.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName="})
		if err != nil {
			return false, nil
		}
		var pending []string
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil && gpu.Requested(&p.Spec) > 0 {
				pending = append(pending, p.Namespace+"/"+p.Name)
			}
		}
		if len(pending) == 0 {
			return true, nil
		}
		claims, err := dyn.Resource(nodeClaimsGVR).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		inflight := 0
		ready := map[string]bool{}
		var stranded []string
		var strand func(c *unstructured.Unstructured) bool
		for _, c := range claims.Items {
			if c.GetDeletionTimestamp() == nil && !conditionTrue(&c, "Ready") {
				if strand == nil {
					strand = e.strandedGPUClaims(ctx)
				}
				if strand(&c) {
					// Not in flight, and a nomination to it is final: Karpenter nominates pods to it while it waits.
					stranded = append(stranded, c.GetName())
					continue
				}
			}
			if !conditionTrue(&c, "Ready") || c.GetDeletionTimestamp() != nil {
				inflight++
			} else {
				ready[c.GetName()] = true
			}
		}
		// A pending pod whose latest word from Karpenter is a nomination to a NodeClaim that is now Ready (another
		// pod took the node) has a stale reason: Karpenter has not yet said why it launches nothing more for it. (A
		// pod it already said FailedScheduling for gets no new word for 5 minutes: Why leads with that failure.)
		why := e.KarpenterWhy(ctx)
		sort.Strings(pending)
		var reasons []string
		for _, p := range pending {
			if claim, ok := strings.CutPrefix(why[p], karpenter.NominatedPrefix+"nodeclaim/"); ok {
				if f := strings.Fields(claim); len(f) > 0 && ready[f[0]] {
					inflight++
				}
			}
			reasons = append(reasons, why[p])
		}
		sig := fmt.Sprintf("%d|%s|%s|%s", inflight, strings.Join(pending, ","), strings.Join(reasons, ","), strings.Join(stranded, ","))
		if sig != last {
			last, since = sig, time.Now()
		}
		// Karpenter batches pending pods (the harness runs it with a 2 s maximum batch window) and retries those
		// it could not place; 10 s without change and nothing in flight is its answer.
		return inflight == 0 && time.Since(since) > 10*time.Second, nil
	})
	if err != nil {
		return fmt.Errorf("%w (NodeClaims in flight and pending GPU pods: %s)", err, last)
	}
	return nil
}

// strandedGPUClaims returns a test for NodeClaims Karpenter can never initialize: the claim's node joined and has
// been Ready for strandedAfter, it is a GPU instance that advertises no nvidia.com/gpu, and no pod of an NVIDIA device
// plugin DaemonSet is on it or made for it (the DaemonSets' node selectors leave it out) — nothing will register its
// GPUs, so Karpenter waits on its Initialized condition forever and keeps the GPU pods it nominated there Pending, as
// on EKS. Such a claim is not "in flight": the pods' state is the answer (gpu-capacity names the missing plugin).
// Anything it cannot read counts as in flight.
func (e *Env) strandedGPUClaims(ctx context.Context) func(*unstructured.Unstructured) bool {
	nodes, err := e.clientset.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return func(*unstructured.Unstructured) bool { return false }
	}
	pods, err := e.clientset.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return func(*unstructured.Unstructured) bool { return false }
	}
	// The device plugin pods: a node is covered when one is on it, or made for it (the DaemonSet controller pins each
	// pod to its node by required node affinity, read as the scheduler reads it).
	onNode := map[string]bool{}
	var madeFor []nodeaffinity.RequiredNodeAffinity
	for i := range pods.Items {
		p := &pods.Items[i]
		o := metav1.GetControllerOf(p)
		if o == nil || o.Kind != "DaemonSet" || !gpu.IsDevicePlugin(o.Name) {
			continue
		}
		if p.Spec.NodeName != "" {
			onNode[p.Spec.NodeName] = true
		} else {
			madeFor = append(madeFor, nodeaffinity.GetRequiredNodeAffinity(p))
		}
	}
	covered := func(n *corev1.Node) bool {
		if onNode[n.Name] {
			return true
		}
		for _, a := range madeFor {
			if ok, err := a.Match(n); ok || err != nil { // unreadable: covered, so in flight
				return true
			}
		}
		return false
	}
	byName := map[string]*corev1.Node{}
	for i := range nodes.Items {
		byName[nodes.Items[i].Name] = &nodes.Items[i]
	}
	return func(c *unstructured.Unstructured) bool {
		name, _, _ := unstructured.NestedString(c.Object, "status", "nodeName")
		n := byName[name]
		if name == "" || n == nil || !isGPUNode(n) || covered(n) {
			return false
		}
		if q := n.Status.Allocatable[gpu.Resource]; !q.IsZero() {
			return false
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				return cond.Status == corev1.ConditionTrue && time.Since(cond.LastTransitionTime.Time) >= strandedAfter
			}
		}
		return false
	}
}

// strandedAfter is how long a GPU node must have been Ready without a device plugin pod before its claim counts as
// stranded: the DaemonSet controller makes a pod for a node it admits within moments of the node's arrival.
const strandedAfter = 10 * time.Second

func conditionTrue(u *unstructured.Unstructured, typ string) bool {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == typ {
			return m["status"] == "True"
		}
	}
	return false
}

// KarpenterWhy returns, per pending pod (namespace/name), Karpenter's latest event message on it: why it launched
// nothing for the pod (a NodePool's limits, no compatible instance type).
func (e *Env) KarpenterWhy(ctx context.Context) map[string]string {
	return karpenter.Why(ctx, e.clientset)
}
