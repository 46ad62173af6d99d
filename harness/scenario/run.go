package scenario

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/check"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cluster"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cluster/node"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/controllers/karpenter"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/deploy"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/engine"
	nvidia "github.com/eks-mlops/eks-mlops-enterprise-grade/harness/gpu"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/rollout"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/shape"
)

// Runner runs scenarios against a started cluster, through the same engine and chart sources as `harness
// check`.
type Runner struct {
	// Env is the scenario's environment: its platform model (the scenario's environment), the started cluster
	// and the chart sources.
	Env *engine.Env
	// ArgoCD, when set, deploys through the real Argo CD (bootstrap.yaml synced) instead of Helm installs.
	ArgoCD   *engine.ArgoCD
	OnResult func(result.Result)
	// Karpenter is where the real Karpenter comes from for scenarios with spec.karpenter (default: the
	// repository's bin/).
	Karpenter *engine.KarpenterConfig
	// Forked, when set, says the cluster was started from a snapshot of the very same deploy (same DeployKey):
	// the scenario's first deploy step takes that deploy over instead of deploying again.
	Forked *Fork
}

// Fork is the deploy a scenario's cluster was forked from.
type Fork struct {
	// Apps are the Applications that deploy put on the cluster; How says who did ("synced by Argo CD").
	Apps []string
	How  string
	// From describes the snapshot (which run took it, when, its key) and Took how long the fork's start took.
	From string
	Took time.Duration
}

// Run runs every step of s and returns one result per step. A step that cannot run on this backend (scaling
// where nodes are not ours) is skipped with the reason; the steps after it still run.
func (r *Runner) Run(ctx context.Context, s *Scenario) ([]result.Result, error) {
	if r.OnResult == nil {
		r.OnResult = func(result.Result) {}
	}
	if r.Env.Platform.Env != s.Spec.Environment {
		return nil, fmt.Errorf("%s: scenario is for environment %s, the run's platform is %s", s.File, s.Spec.Environment, r.Env.Platform.Env)
	}
	var results []result.Result
	if s.Spec.Karpenter {
		defer r.Env.StopKarpenter()
		cfg := engine.KarpenterConfigAt(r.Env.Platform.Root)
		if r.Karpenter != nil {
			cfg = *r.Karpenter
		}
		// Scenarios judge Karpenter's own behaviour (launch, limits, consolidation) within seconds: the generic kwok
		// provider on the translated NodePools. The AWS provider (its node class against what Terraform creates;
		// a node registers 30 s after its launch) is judged by harness check's karpenter step.
		cfg.AWSBinary = ""
		t0 := time.Now()
		st, err := r.Env.StartKarpenter(ctx, cfg)
		res := check.ScenarioStep(s.Metadata.Name+"/karpenter", fmt.Sprintf("the real Karpenter runs, %d NodePool(s) handed to it: %s",
			st.Pools, strings.Join(st.Changes, "; ")), st.Skipped, err)
		res.Duration = time.Since(t0)
		results = append(results, res)
		r.OnResult(res)
		if res.Status != result.Passed {
			// Without the controller the steps would judge the node groups alone: none of them is run.
			return results, nil
		}
	}
	for i, st := range s.Spec.Steps {
		name := fmt.Sprintf("%s/%d", s.Metadata.Name, i+1)
		if st.Name != "" {
			name += " " + st.Name
		}
		t0 := time.Now()
		forked := r.Forked != nil && st.Deploy != nil
		msg, skipped, err := r.act(ctx, st)
		if err == nil && skipped == "" && st.Expect != nil {
			if got, e := expect(ctx, r.Env.Clientset(), r.Env.Platform.Shape, *st.Expect); e != nil {
				err = e
				if forked { // the verdict is on the fork: say so
					err = fmt.Errorf("%w; %s", e, msg)
				}
			} else {
				msg = strings.TrimPrefix(msg+"; "+got, "; ")
			}
		}
		res := check.ScenarioStep(name, msg, skipped, err)
		res.Duration = time.Since(t0)
		results = append(results, res)
		r.OnResult(res)
		if ctx.Err() != nil {
			return results, ctx.Err()
		}
	}
	return results, nil
}

// afterDeploy places a probe for every workload once the platform is on the cluster, and scales the GPU groups
// when the step asks.
func (r *Runner) afterDeploy(ctx context.Context, st Step, deployed string) (msg, skipped string, err error) {
	e := r.Env
	ps, err := e.RunProbes(ctx, time.Minute)
	if err != nil {
		return "", "", err
	}
	if st.Deploy.ScaleForGPUs {
		if _, err := e.ScaleForGPUs(ctx, ps); err != nil {
			return "", "", err
		}
	}
	return fmt.Sprintf("%s (%d upstream, whose real pods run); watching %d workloads", deployed, len(e.ChartWorkloads()), len(e.Watched())), "", nil
}

func (r *Runner) act(ctx context.Context, st Step) (msg, skipped string, err error) {
	e := r.Env
	cs := e.Clientset()
	sc, canScale := e.Scaler()
	switch {
	case st.Deploy != nil && r.Forked != nil:
		f := r.Forked
		r.Forked = nil // a second deploy step deploys
		e.AdoptDeployment(ctx, f.Apps, f.How)
		return r.afterDeploy(ctx, st, fmt.Sprintf("the platform as %s (%d Applications, %s), forked from %s in %s instead of deployed again",
			f.How, len(f.Apps), strings.Join(f.Apps, ", "), f.From, f.Took.Round(100*time.Millisecond)))
	case st.Deploy != nil:
		installed := 0
		// As `harness check`: the generated CRDs first, for kinds no installable chart ships (Karpenter's NodePool
		// and EC2NodeClass when its chart is not here), so that the in-repo charts creating them can be synced.
		if e.CRDsDir != "" {
			if res := check.CRDs(e.InstallCRDs(ctx)); res.Status == result.Failed {
				return "", "", fmt.Errorf("%s: %s", res.Name, res.Message)
			}
		}
		for _, res := range check.Deploy(e.Deploy(ctx, r.ArgoCD)) {
			if res.Status == result.Failed {
				return "", "", fmt.Errorf("%s: %s", res.Name, res.Message)
			}
			if res.Status == result.Passed && res.Name != "deploy/platform-app" { // the root Application is not a chart
				installed++
			}
		}
		return r.afterDeploy(ctx, st, fmt.Sprintf("installed %d of %d charts", installed, len(e.Platform.Apps)))
	case st.Apply != nil:
		return apply(ctx, e.REST(), st.Apply.Objects)
	case st.ScaleNodeGroup != nil:
		if !canScale {
			return "", "this backend's nodes cannot be scaled by the harness", nil
		}
		if err := sc.ScaleGroup(ctx, st.ScaleNodeGroup.Group, st.ScaleNodeGroup.Size); err != nil {
			return "", "", err
		}
		return fmt.Sprintf("node group %s scaled to %d", st.ScaleNodeGroup.Group, st.ScaleNodeGroup.Size), "", nil
	case st.LoseNode != nil:
		if !canScale {
			return "", "this backend's nodes cannot be removed by the harness", nil
		}
		return loseNode(ctx, cs, sc, st.LoseNode.Node)
	case st.NightScaleDown != nil:
		return nightScaleDown(ctx, cs, st.NightScaleDown.Namespaces)
	case st.RollNodeGroup != nil:
		return rollNodeGroup(ctx, e, *st.RollNodeGroup)
	case st.UpgradeControlPlane != nil:
		return upgradeControlPlane(ctx, e, *st.UpgradeControlPlane)
	}
	return "", "", nil
}

func apply(ctx context.Context, rc *rest.Config, objs []map[string]any) (string, string, error) {
	res, err := deploy.NewResources(rc)
	if err != nil {
		return "", "", err
	}
	for i, m := range objs {
		u := &unstructured.Unstructured{Object: m}
		gvk := u.GroupVersionKind()
		c, err := res.For(u)
		if err != nil {
			return "", "", fmt.Errorf("objects[%d] %s: %w", i, gvk.Kind, err)
		}
		if _, err := c.Create(ctx, u, metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict}); err != nil && !apierrors.IsAlreadyExists(err) {
			return "", "", fmt.Errorf("create %s %s/%s: %w", gvk.Kind, u.GetNamespace(), u.GetName(), err)
		}
	}
	return fmt.Sprintf("applied %d object(s)", len(objs)), "", nil
}

// loseNode deletes the node and then its pods, which on EKS the pod garbage collector does within a minute
// of the instance going away; controllers then recreate them elsewhere (or they wait, Pending).
func loseNode(ctx context.Context, cs kubernetes.Interface, sc cluster.Scaler, node string) (string, string, error) {
	if err := sc.RemoveNode(ctx, node); err != nil {
		return "", "", err
	}
	pods, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + node})
	if err != nil {
		return "", "", err
	}
	for _, p := range pods.Items {
		if err := cs.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil && !apierrors.IsNotFound(err) {
			return "", "", err
		}
	}
	return fmt.Sprintf("node %s lost with its %d pod(s)", node, len(pods.Items)), "", nil
}

func nightScaleDown(ctx context.Context, cs kubernetes.Interface, namespaces []string) (string, string, error) {
	patch := []byte(`{"spec":{"replicas":0}}`)
	n := 0
	for _, ns := range namespaces {
		ds, err := cs.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return "", "", err
		}
		for _, d := range ds.Items {
			if _, err := cs.AppsV1().Deployments(ns).Patch(ctx, d.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
				return "", "", err
			}
			n++
		}
		ss, err := cs.AppsV1().StatefulSets(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return "", "", err
		}
		for _, s := range ss.Items {
			if _, err := cs.AppsV1().StatefulSets(ns).Patch(ctx, s.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
				return "", "", err
			}
			n++
		}
	}
	return fmt.Sprintf("scaled %d workload(s) in %s to zero", n, strings.Join(namespaces, ", ")), "", nil
}

// state is what expectations are checked against.
type state struct {
	gpuRunning, gpuPending, systemPending int
	offGroup                              []string
	pendingReasons                        []string
	readyNodes                            map[string]int
	nodePoolNodes                         map[string]int
}

func observe(ctx context.Context, cs kubernetes.Interface, s *shape.Shape) (state, error) {
	st := state{readyNodes: map[string]int{}, nodePoolNodes: map[string]int{}}
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return st, err
	}
	gpuNode := map[string]bool{}
	for _, n := range nodes.Items {
		g, _ := s.Group(n.Labels[shape.LabelNodeGroup])
		it, err := shape.Lookup(n.Labels[corev1.LabelInstanceTypeStable])
		gpuNode[n.Name] = (g != nil && g.Instance.GPU()) || (err == nil && it.GPU())
		if pool := n.Labels[karpenter.LabelNodePool]; pool != "" {
			st.nodePoolNodes[pool]++
		} else if node.Ready(&n) {
			st.readyNodes[n.Labels[shape.LabelNodeGroup]]++
		}
	}
	why := karpenter.Why(ctx, cs)
	pods, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return st, err
	}
	for _, p := range pods.Items {
		if p.Namespace == "kube-system" || p.DeletionTimestamp != nil {
			continue
		}
		gpu := nvidia.Requested(&p.Spec) > 0
		running := p.Spec.NodeName != "" && p.Status.Phase == corev1.PodRunning
		switch {
		case gpu && running:
			st.gpuRunning++
		case gpu && p.Spec.NodeName == "":
			st.gpuPending++
			msg := pendingMessage(&p)
			if k := why[p.Namespace+"/"+p.Name]; k != "" {
				msg += "; Karpenter: " + k
			}
			st.pendingReasons = append(st.pendingReasons, msg)
		case !gpu && p.Spec.NodeName == "" && p.Status.Phase == corev1.PodPending:
			st.systemPending++
		}
		if p.Spec.NodeName != "" && gpu != gpuNode[p.Spec.NodeName] && !nvidia.IsNodeAgent(p.Name) {
			st.offGroup = append(st.offGroup, fmt.Sprintf("%s/%s on %s", p.Namespace, p.Name, p.Spec.NodeName))
		}
	}
	sort.Strings(st.offGroup)
	return st, nil
}

func pendingMessage(p *corev1.Pod) string {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			return c.Message
		}
	}
	return ""
}

// expect waits up to a minute for every set expectation to hold, and reports what was seen.
func expect(ctx context.Context, cs kubernetes.Interface, s *shape.Shape, e Expect) (string, error) {
	var last state
	var unmet []string
	within := time.Minute
	if e.WithinSeconds > 0 {
		within = time.Duration(e.WithinSeconds) * time.Second
	}
	t0 := time.Now()
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, within, true, func(ctx context.Context) (bool, error) {
		st, err := observe(ctx, cs, s)
		if err != nil {
			return false, nil
		}
		last, unmet = st, nil
		cmp := func(what string, want *int, got int) {
			if want != nil && *want != got {
				unmet = append(unmet, fmt.Sprintf("%s: want %d, got %d", what, *want, got))
			}
		}
		cmp("gpuPodsRunning", e.GPUPodsRunning, st.gpuRunning)
		cmp("gpuPodsPending", e.GPUPodsPending, st.gpuPending)
		cmp("systemPodsPending", e.SystemPodsPending, st.systemPending)
		if e.Isolation && len(st.offGroup) > 0 {
			unmet = append(unmet, "isolation broken: "+strings.Join(st.offGroup, ", "))
		}
		for _, r := range st.pendingReasons {
			if e.PendingReason != "" && !strings.Contains(r, e.PendingReason) {
				unmet = append(unmet, fmt.Sprintf("pending reason %q lacks %q", r, e.PendingReason))
			}
		}
		for g, n := range e.ReadyNodes {
			w := n
			cmp("readyNodes."+g, &w, st.readyNodes[g])
		}
		for np, n := range e.NodePoolNodes {
			w := n
			cmp("nodePoolNodes."+np, &w, st.nodePoolNodes[np])
		}
		return len(unmet) == 0, nil
	})
	if err != nil {
		return "", fmt.Errorf("expectations not met after %s: %s", within, strings.Join(unmet, "; "))
	}
	got := fmt.Sprintf("held after %s: GPU pods running %d, pending %d; system pods pending %d", time.Since(t0).Round(100*time.Millisecond), last.gpuRunning, last.gpuPending, last.systemPending)
	if len(last.nodePoolNodes) > 0 || len(e.NodePoolNodes) > 0 {
		got += fmt.Sprintf("; Karpenter nodes by NodePool %v", last.nodePoolNodes)
	}
	if len(last.pendingReasons) > 0 {
		got += "; pending: " + last.pendingReasons[0]
	}
	return got, nil
}

// rollNodeGroup rolls a group through harness/rollout; with ExpectBlockedBy, the roll must fail naming that
// PodDisruptionBudget.
func rollNodeGroup(ctx context.Context, e *engine.Env, st RollNodeGroup) (string, string, error) {
	nodes, ok := cluster.AsNodeRoller(e.Cluster)
	if !ok {
		return "", "this backend cannot surge nodes (an EKS roll is rehearsed on the embedded cluster)", nil
	}
	version := st.KubeletVersion
	if version == "" {
		// The control plane's minor (after upgradeControlPlane, the new one): kubelets never newer than it.
		v := e.Platform.Shape.KubernetesVersion
		if u, ok := cluster.AsUpgrader(e.Cluster); ok {
			v = u.ControlPlaneVersion()
		}
		version = "v" + v + ".0"
	}
	timeout := 30 * time.Second
	if st.EvictionTimeoutSeconds > 0 {
		timeout = time.Duration(st.EvictionTimeoutSeconds) * time.Second
	}
	rep := rollout.RollNodeGroup(ctx, e.Clientset(), nodes, rollout.Roll{Group: st.Group, KubeletVersion: version, Force: st.Force, EvictionTimeout: timeout})
	r := check.Roll(rep)
	if st.ExpectBlockedBy != "" {
		if check.RollBlockedBy(rep, st.ExpectBlockedBy) {
			return "blocked as expected: " + r.Message, "", nil
		}
		return "", "", fmt.Errorf("the roll of %s was to be blocked by PodDisruptionBudget %s; it %s: %s", st.Group, st.ExpectBlockedBy, r.Status, r.Message)
	}
	if r.Status != result.Passed {
		return "", "", fmt.Errorf("%s", r.Message)
	}
	return r.Message, "", nil
}

func nextMinor(v string) (string, error) {
	major, minor, ok := strings.Cut(v, ".")
	n, err := strconv.Atoi(minor)
	if !ok || major != "1" || err != nil {
		return "", fmt.Errorf("cluster version %q: want 1.NN", v)
	}
	return "1." + strconv.Itoa(n+1), nil
}

func upgradeControlPlane(ctx context.Context, e *engine.Env, st UpgradeControlPlane) (string, string, error) {
	u, ok := cluster.AsUpgrader(e.Cluster)
	if !ok {
		return "", "this backend's control plane cannot be upgraded by the harness (the nightly's -upgrade-to does it on EKS)", nil
	}
	from := u.ControlPlaneVersion()
	to := st.To
	if to == "" {
		v, err := nextMinor(from)
		if err != nil {
			return "", "", err
		}
		to = v
	}
	before, err := e.Clientset().CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", "", err
	}
	t0 := time.Now()
	if err := u.UpgradeControlPlane(ctx, to); err != nil {
		return "", "", err
	}
	if err := e.Reconnect(); err != nil {
		return "", "", err
	}
	v, err := e.Clientset().Discovery().ServerVersion()
	if err != nil {
		return "", "", err
	}
	if got := v.EmulationMajor + "." + v.EmulationMinor; got != to {
		return "", "", fmt.Errorf("after the upgrade the control plane serves %s, not %s", got, to)
	}
	after, err := e.Clientset().CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", "", err
	}
	if len(after.Items) < len(before.Items) {
		return "", "", fmt.Errorf("%d pod(s) before the upgrade, %d after: the upgrade lost objects", len(before.Items), len(after.Items))
	}
	return fmt.Sprintf("control plane upgraded in place %s -> %s in %s (same etcd data; %d pods read back; nodes keep their kubelet version until rolled)",
		from, to, time.Since(t0).Round(100*time.Millisecond), len(after.Items)), "", nil
}
