package engine

import (
	"context"
	"sort"
	"time"

	apiextensionsclientset "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/shape"
)

// State is what runs on the cluster at one moment, as `harness diff` compares it before and after a change: the
// objects that hold data, the CRDs' versions, every pod with the node group it runs on.
type State struct {
	// Data are the objects holding data (PersistentVolumeClaims, StatefulSets, CustomResourceDefinitions), by
	// "Kind namespace/name".
	Data map[string]Held
	// CRDs are the CustomResourceDefinitions by name.
	CRDs map[string]CRDVersions
	// Pods are every pod, by namespace/name.
	Pods map[string]PodAt
	// KarpenterNodes counts the nodes Karpenter launched, per NodePool (label karpenter.sh/nodepool).
	KarpenterNodes map[string]int
}

// Held is one object holding data.
type Held struct {
	Kind, Namespace, Name, UID string
	Annotations                map[string]string
	// Objects is, for a CRD, how many objects of its kind are stored.
	Objects int
}

// CRDVersions are a CRD's served versions and the versions its objects are stored in (status.storedVersions).
type CRDVersions struct {
	Served, Stored []string
}

// PodAt is one pod and where it runs.
type PodAt struct {
	UID string
	// Workload is its controller, "Kind namespace/name" (a ReplicaSet's Deployment), or the pod itself.
	Workload string
	Node     string
	// Group is the node's node group (eks.amazonaws.com/nodegroup), "NodePool <name>" for Karpenter's nodes, or
	// empty while the pod is not scheduled.
	Group string
}

// Key names a data-holding object.
func (h Held) Key() string {
	if h.Namespace == "" {
		return h.Kind + " " + h.Name
	}
	return h.Kind + " " + h.Namespace + "/" + h.Name
}

// Observe records the cluster's State.
func (e *Env) Observe(ctx context.Context) (State, error) {
	st := State{Data: map[string]Held{}, CRDs: map[string]CRDVersions{}, Pods: map[string]PodAt{}, KarpenterNodes: map[string]int{}}
	cs := e.clientset
	add := func(h Held) { st.Data[h.Key()] = h }
	pvcs, err := cs.CoreV1().PersistentVolumeClaims("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return st, err
	}
	for _, o := range pvcs.Items {
		add(Held{Kind: "PersistentVolumeClaim", Namespace: o.Namespace, Name: o.Name, UID: string(o.UID), Annotations: o.Annotations})
	}
	sts, err := cs.AppsV1().StatefulSets("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return st, err
	}
	for _, o := range sts.Items {
		add(Held{Kind: "StatefulSet", Namespace: o.Namespace, Name: o.Name, UID: string(o.UID), Annotations: o.Annotations})
	}
	ext, err := apiextensionsclientset.NewForConfig(e.REST())
	if err != nil {
		return st, err
	}
	crds, err := ext.ApiextensionsV1().CustomResourceDefinitions().List(ctx, metav1.ListOptions{})
	if err != nil {
		return st, err
	}
	dyn, err := dynamic.NewForConfig(e.REST())
	if err != nil {
		return st, err
	}
	for _, o := range crds.Items {
		var v CRDVersions
		storage := ""
		for _, ver := range o.Spec.Versions {
			if ver.Served {
				v.Served = append(v.Served, ver.Name)
			}
			if ver.Storage {
				storage = ver.Name
			}
		}
		v.Stored = append(v.Stored, o.Status.StoredVersions...)
		st.CRDs[o.Name] = v
		n := 0
		if storage != "" {
			gvr := schema.GroupVersionResource{Group: o.Spec.Group, Version: storage, Resource: o.Spec.Names.Plural}
			if l, err := dyn.Resource(gvr).List(ctx, metav1.ListOptions{}); err == nil {
				n = len(l.Items)
			}
		}
		add(Held{Kind: "CustomResourceDefinition", Name: o.Name, UID: string(o.UID), Annotations: o.Annotations, Objects: n})
	}
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return st, err
	}
	group := map[string]string{}
	for _, n := range nodes.Items {
		switch {
		case n.Labels[shape.LabelNodeGroup] != "":
			group[n.Name] = n.Labels[shape.LabelNodeGroup]
		case n.Labels["karpenter.sh/nodepool"] != "":
			group[n.Name] = "NodePool " + n.Labels["karpenter.sh/nodepool"]
			st.KarpenterNodes[n.Labels["karpenter.sh/nodepool"]]++
		default:
			group[n.Name] = "node " + n.Name
		}
	}
	pods, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return st, err
	}
	for _, p := range pods.Items {
		w := workloadOf(&p)
		at := PodAt{UID: string(p.UID), Workload: w, Node: p.Spec.NodeName}
		if p.Spec.NodeName != "" {
			at.Group = group[p.Spec.NodeName]
		}
		st.Pods[p.Namespace+"/"+p.Name] = at
	}
	return st, nil
}

// ObserveSettled records the cluster's State once its pods stop changing (the same pods on the same nodes in two
// observations a few seconds apart: controllers have created, placed and removed what a sync asked for), or at
// the timeout with what it last saw.
func (e *Env) ObserveSettled(ctx context.Context, timeout time.Duration) (State, error) {
	deadline := time.Now().Add(timeout)
	last, err := e.Observe(ctx)
	for err == nil && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return last, context.Cause(ctx)
		case <-time.After(3 * time.Second):
		}
		var next State
		if next, err = e.Observe(ctx); err != nil {
			break
		}
		if samePods(last, next) {
			return next, nil
		}
		last = next
	}
	return last, err
}

func samePods(a, b State) bool {
	if len(a.Pods) != len(b.Pods) {
		return false
	}
	for k, p := range a.Pods {
		if q, ok := b.Pods[k]; !ok || q.UID != p.UID || q.Node != p.Node {
			return false
		}
	}
	return true
}

// Groups are, per workload, the node groups its pods run on (sorted, one entry per pod; "" for a pending pod).
func (s State) Groups() map[string][]string {
	out := map[string][]string{}
	for _, p := range s.Pods {
		out[p.Workload] = append(out[p.Workload], p.Group)
	}
	for _, g := range out {
		sort.Strings(g)
	}
	return out
}
