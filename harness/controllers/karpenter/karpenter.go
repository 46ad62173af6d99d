// Package karpenter runs the real Karpenter controller (tools/karpenter: sigs.k8s.io/karpenter with its kwok
// cloud provider) against the embedded cluster: the instance types it may launch are generated from the harness's
// catalog (GPUs, max pods, EKS's kube-reserved, on-demand list prices), and the platform's NodePools are handed
// to it with their node class translated to the kwok provider's (the only change, which the caller reports).
package karpenter

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/internal/ports"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/internal/proc"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/shape"
)

// Label keys of the AWS provider's well-known labels and the kwok provider's equivalents.
var labelMap = map[string]string{
	"karpenter.k8s.aws/instance-family": "karpenter.kwok.sh/instance-family",
	"karpenter.k8s.aws/instance-size":   "karpenter.kwok.sh/instance-size",
	"karpenter.k8s.aws/instance-cpu":    "karpenter.kwok.sh/instance-cpu",
	"karpenter.k8s.aws/instance-memory": "karpenter.kwok.sh/instance-memory",
}

// KWOKNodeClass is the kwok provider's node class every translated NodePool refers to.
const KWOKNodeClass = "harness"

// Version is the Karpenter tools/karpenter builds (its go.mod) and tools/crdgen generates the CRDs from: the
// Karpenter chart the platform pins must be this version.
const Version = "v1.15.0"

// LabelNodePool is the label Karpenter puts on the nodes it launches: the NodePool's name.
const LabelNodePool = "karpenter.sh/nodepool"

// Why returns, per pod (namespace/name), the latest message Karpenter's events gave about it (why it could not
// launch a node for it: a NodePool's limits, no compatible instance type; or the node it nominated).
//
// Karpenter says FailedScheduling once per pod per 5 minutes, whatever the message (its recorder dedupes by reason
// and pod UID), so a pod that failed, was then nominated to a NodeClaim another pod took, and is pending again gets
// no new word for minutes: its latest word is a stale nomination. When a FailedScheduling is on record beside a
// later nomination, the failure leads ("Failed to schedule pod, ...; later: Pod should schedule on: ...") — it is
// Karpenter's last word on why it launches nothing for the pod.
func Why(ctx context.Context, cs kubernetes.Interface) map[string]string {
	evs, err := cs.CoreV1().Events("").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.kind=Pod"})
	out := map[string]string{}
	if err != nil {
		return out
	}
	type word struct {
		at  time.Time
		msg string
	}
	latest, failed := map[string]word{}, map[string]word{}
	for _, e := range evs.Items {
		if e.InvolvedObject.Kind != "" && e.InvolvedObject.Kind != "Pod" ||
			!strings.Contains(e.Source.Component+e.ReportingController, "karpenter") {
			continue
		}
		id := e.InvolvedObject.Namespace + "/" + e.InvolvedObject.Name
		at := e.LastTimestamp.Time
		if e.EventTime.After(at) {
			at = e.EventTime.Time
		}
		w := word{at, e.Message}
		if !at.Before(latest[id].at) {
			latest[id] = w
		}
		if e.Reason == "FailedScheduling" && !at.Before(failed[id].at) {
			failed[id] = w
		}
	}
	for id, w := range latest {
		out[id] = w.msg
		if f, ok := failed[id]; ok && f.msg != w.msg && strings.HasPrefix(w.msg, NominatedPrefix) {
			out[id] = f.msg + "; later: " + w.msg
		}
	}
	return out
}

// NominatedPrefix begins Karpenter's message nominating a pod to a NodeClaim or node it launched.
const NominatedPrefix = "Pod should schedule on: "

type offering struct {
	Price        float64                          `json:"Price"`
	Available    bool                             `json:"Available"`
	Requirements []corev1.NodeSelectorRequirement `json:"Requirements"`
}

type instanceType struct {
	Name             string              `json:"name"`
	Offerings        []offering          `json:"offerings"`
	Architecture     string              `json:"architecture"`
	OperatingSystems []corev1.OSName     `json:"operatingSystems"`
	Resources        corev1.ResourceList `json:"resources"`
}

// InstanceTypes is the kwok provider's instance-type document for the catalog's types: resources as an EKS node
// of the type has them allocatable (kube-reserved subtracted, max pods from the VPC CNI's formula, nvidia.com/gpu),
// one on-demand offering in zone at the list price (the catalog holds no spot prices: spot is not offered).
func InstanceTypes(zone string) ([]byte, error) {
	var out []instanceType
	for _, t := range shape.InstanceTypes() {
		_, alloc := shape.Resources(t, shape.DefaultDiskSizeGiB)
		out = append(out, instanceType{Name: t.Name, Architecture: "amd64", OperatingSystems: []corev1.OSName{corev1.Linux},
			Resources: alloc, Offerings: []offering{{Price: t.OnDemandUSDPerHour, Available: true, Requirements: []corev1.NodeSelectorRequirement{
				{Key: "karpenter.sh/capacity-type", Operator: corev1.NodeSelectorOpIn, Values: []string{"on-demand"}},
				{Key: corev1.LabelTopologyZone, Operator: corev1.NodeSelectorOpIn, Values: []string{zone}},
			}}}})
	}
	return json.MarshalIndent(out, "", "  ")
}

// families are the catalog's instance families (g4dn, t3, ...).
func families() map[string]bool {
	out := map[string]bool{}
	for _, t := range shape.InstanceTypes() {
		out[strings.SplitN(t.Name, ".", 2)[0]] = true
	}
	return out
}

// Translate returns the NodePool as the kwok provider runs it: nodeClassRef to the kwok node class, the AWS
// provider's label keys in requirements as the kwok provider's. An instance family or type the catalog does not
// know is an error naming it (the harness could not say what such a node holds).
func Translate(np *unstructured.Unstructured) (*unstructured.Unstructured, []string, error) {
	out := np.DeepCopy()
	var changes []string
	ref, _, _ := unstructured.NestedMap(out.Object, "spec", "template", "spec", "nodeClassRef")
	changes = append(changes, fmt.Sprintf("nodeClassRef %v/%v -> KWOKNodeClass %s", ref["kind"], ref["name"], KWOKNodeClass))
	_ = unstructured.SetNestedMap(out.Object, map[string]any{"group": "karpenter.kwok.sh", "kind": "KWOKNodeClass", "name": KWOKNodeClass},
		"spec", "template", "spec", "nodeClassRef")
	reqs, _, _ := unstructured.NestedSlice(out.Object, "spec", "template", "spec", "requirements")
	fams := families()
	for i, r := range reqs {
		m, _ := r.(map[string]any)
		key, _ := m["key"].(string)
		vals, _ := m["values"].([]any)
		switch key {
		case "karpenter.k8s.aws/instance-family":
			for _, v := range vals {
				if s, _ := v.(string); !fams[s] {
					return nil, nil, fmt.Errorf("NodePool %s: instance family %q is not in the harness's instance catalog (harness/shape/catalog.go); known: %s",
						np.GetName(), s, strings.Join(sortedKeys(fams), ", "))
				}
			}
		case corev1.LabelInstanceTypeStable:
			for _, v := range vals {
				if s, _ := v.(string); s != "" {
					if _, err := shape.Lookup(s); err != nil {
						return nil, nil, fmt.Errorf("NodePool %s: %w", np.GetName(), err)
					}
				}
			}
		}
		if to, ok := labelMap[key]; ok {
			m["key"] = to
			reqs[i] = m
			changes = append(changes, key+" -> "+to)
		}
	}
	if reqs != nil {
		_ = unstructured.SetNestedSlice(out.Object, reqs, "spec", "template", "spec", "requirements")
	}
	return out, changes, nil
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Config says how to run the controller.
type Config struct {
	// Binary is tools/karpenter's build (make karpenter: bin/karpenter).
	Binary string
	// Kubeconfig is the cluster's admin kubeconfig.
	Kubeconfig string
	// Dir holds the instance-type document and the controller's log; the caller removes it.
	Dir string
	// Zone is the node groups' zone (the offerings').
	Zone string
}

// Controller is the running Karpenter.
type Controller struct {
	proc *proc.Process
	Log  string
}

// Start starts Karpenter (leader election off: one replica) and waits until its health probe answers.
// Karpenter binds its metrics and health ports on every interface (":port" is hard-coded upstream); the harness
// gives it free ports, so nothing else's port is taken, and says so.
func Start(ctx context.Context, cfg Config) (*Controller, error) {
	if _, err := os.Stat(cfg.Binary); err != nil {
		return nil, fmt.Errorf("%s: run `make karpenter`: %w", cfg.Binary, err)
	}
	doc, err := InstanceTypes(cfg.Zone)
	if err != nil {
		return nil, err
	}
	types := filepath.Join(cfg.Dir, "instance-types.json")
	if err := os.WriteFile(types, doc, 0o600); err != nil {
		return nil, err
	}
	metrics, err := ports.Free()
	if err != nil {
		return nil, err
	}
	health, err := ports.Free()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(cfg.Dir, "karpenter.log")
	url := fmt.Sprintf("http://127.0.0.1:%d/readyz", health)
	p, err := proc.Start(ctx, proc.Spec{Name: "karpenter", Path: cfg.Binary,
		Args: []string{"--disable-leader-election", "--metrics-port", strconv.Itoa(metrics),
			"--health-probe-port", strconv.Itoa(health), "--batch-idle-duration", "200ms", "--batch-max-duration", "2s"},
		Env: append(os.Environ(), "KUBECONFIG="+cfg.Kubeconfig, "INSTANCE_TYPES_FILE_PATH="+types,
			"SYSTEM_NAMESPACE=kube-system", "LOG_LEVEL=info"),
		Log: logPath, PollInterval: 200 * time.Millisecond,
		Ready: proc.HTTPReady(url)})
	if err != nil {
		return nil, err
	}
	return &Controller{proc: p, Log: logPath}, nil
}

// Stop stops the controller (SIGTERM, SIGKILL after 10 s).
func (c *Controller) Stop() {
	if c == nil || c.proc == nil {
		return
	}
	_ = c.proc.Stop()
}
