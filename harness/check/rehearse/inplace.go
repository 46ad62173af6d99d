package rehearse

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cluster/embedded"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/deploy"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
)

// NameInPlace is the in-place step's result name.
const NameInPlace = "rehearse/in-place"

// InPlace is the in-place control plane upgrade: the real kube-apiserver of From with the platform's objects
// applied, stopped, then the real kube-apiserver of To started on the same etcd data.
type InPlace struct {
	From, To string
	// Servers are the kube-apiserver binaries by minor (make rehearse: bin/kube-apiserver-1.NN).
	Servers map[string]string
	// Args are extra kube-apiserver flags by minor (a test enabling an alpha API on the old server).
	Args map[string][]string
	// Dir holds etcd's data, the certificates and the servers' logs; the caller removes it.
	Dir string
	// Progress receives one line per phase; nil discards.
	Progress func(format string, args ...any)
}

// left out, as on every emulated cluster: nothing serves admission webhooks or aggregated APIs here.
var leftOut = map[string]bool{"ValidatingWebhookConfiguration": true, "MutatingWebhookConfiguration": true, "APIService": true}

type key struct {
	gvr       schema.GroupVersionResource
	ns, name  string
	kind, src string
}

func (k key) String() string {
	n := k.name
	if k.ns != "" {
		n = k.ns + "/" + n
	}
	s := fmt.Sprintf("%s %s (%s)", k.kind, n, k.gvr.GroupVersion())
	if k.src != "" {
		s += " from " + k.src
	}
	return s
}

// Run applies objs on the From server, records every object the server holds, upgrades, and verifies that
// every object reads back (same uid), every CRD is Established and served, and that a strict server-side dry
// run still accepts every applied object.
func (o InPlace) Run(ctx context.Context, objs []deploy.Object) result.Result {
	t0 := time.Now()
	progress := o.Progress
	if progress == nil {
		progress = func(string, ...any) {}
	}
	from, to := o.Servers[o.From], o.Servers[o.To]
	if from == "" || to == "" {
		return result.Skip(NameInPlace, "no kube-apiserver build for %s and %s (make rehearse builds them: tools/kubeapiserver)", o.From, o.To)
	}
	st, err := embedded.NewStandalone(ctx, o.Dir)
	if err != nil {
		return result.Fail(NameInPlace, nil, "start etcd: %v", err)
	}
	defer st.Close() //nolint:errcheck
	if err := st.StartAPIServer(ctx, from, o.Args[o.From]...); err != nil {
		return result.Fail(NameInPlace, nil, "kube-apiserver %s: %v", o.From, err)
	}
	progress("kube-apiserver %s (%s) ready in %s; applying %d objects", o.From, from, time.Since(t0).Round(100*time.Millisecond), len(objs))
	cfg := st.RESTConfig()
	cfg.WarningHandler = rest.NoWarnings{} // deprecation warnings of the listing (ComponentStatus, Endpoints) are noise here
	applied, notApplied, err := applyAll(ctx, cfg, objs)
	if err != nil {
		return result.Fail(NameInPlace, nil, "on %s: %v", o.From, err)
	}
	recorded, err := record(ctx, cfg)
	if err != nil {
		return result.Fail(NameInPlace, nil, "record what %s holds: %v", o.From, err)
	}
	// What the old server already refuses under a strict dry run is not the upgrade's doing.
	dryBefore := dryRunAll(ctx, cfg, objs)
	t1 := time.Now()
	if err := st.StopAPIServer(); err != nil {
		return result.Fail(NameInPlace, nil, "stop %s: %v", o.From, err)
	}
	if err := st.StartAPIServer(ctx, to, o.Args[o.To]...); err != nil {
		return result.Fail(NameInPlace, nil, "kube-apiserver %s on %s's data: %v", o.To, o.From, err)
	}
	progress("kube-apiserver %s (%s) ready on the same etcd data in %s; reading back %d objects", o.To, to, time.Since(t1).Round(100*time.Millisecond), len(recorded)+len(applied))
	var bad []string
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return result.Fail(NameInPlace, nil, "%v", err)
	}
	// Discovery of the CRDs' versions fills in asynchronously after /readyz: wait (30 s at most) until every
	// Established CRD's served versions are listed, then judge.
	gvrCRDs := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	var served map[schema.GroupVersionResource]bool
	var crdProblems []string
	var crdCount int
	_ = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		crdProblems = crdProblems[:0]
		sv, err := servedResources(cfg)
		if err != nil {
			crdProblems = append(crdProblems, fmt.Sprintf("discovery on %s: %v", o.To, err))
			return false, nil
		}
		served = sv
		crds, err := dyn.Resource(gvrCRDs).List(ctx, metav1.ListOptions{})
		if err != nil {
			crdProblems = append(crdProblems, fmt.Sprintf("list CRDs on %s: %v", o.To, err))
			return false, nil
		}
		crdCount = len(crds.Items)
		for _, c := range crds.Items {
			if msg := crdServed(&c, served); msg != "" {
				crdProblems = append(crdProblems, msg)
			}
		}
		return len(crdProblems) == 0, nil
	})
	bad = append(bad, crdProblems...)
	if served == nil {
		return result.Fail(NameInPlace, bad, "discovery on %s never answered", o.To)
	}
	// Read back through the recorded version, or — where the new server no longer serves that version — any
	// version of the same resource it does serve; only a resource served in no version is unreadable.
	byGR := map[schema.GroupResource]schema.GroupVersionResource{}
	for gvr := range served {
		byGR[gvr.GroupResource()] = gvr
	}
	check := func(k key, uid types.UID) {
		gvr := k.gvr
		if !served[gvr] {
			alt, ok := byGR[gvr.GroupResource()]
			if !ok {
				bad = append(bad, fmt.Sprintf("%s: %s serves %s in no version: it cannot be read back", k, o.To, gvr.GroupResource()))
				return
			}
			gvr = alt
		}
		got, err := dyn.Resource(gvr).Namespace(k.ns).Get(ctx, k.name, metav1.GetOptions{})
		switch {
		case err != nil:
			bad = append(bad, fmt.Sprintf("%s: read back on %s: %v", k, o.To, err))
		case uid != "" && got.GetUID() != uid:
			bad = append(bad, fmt.Sprintf("%s: read back with another uid (%s, was %s)", k, got.GetUID(), uid))
		}
	}
	seen := map[string]bool{}
	id := func(k key) string { return k.gvr.GroupResource().String() + "/" + k.ns + "/" + k.name }
	for k, uid := range applied {
		seen[id(k)] = true
		check(k, uid)
	}
	for k, uid := range recorded {
		if !seen[id(k)] {
			seen[id(k)] = true
			check(k, uid)
		}
	}
	for obj, msg := range dryRunAll(ctx, cfg, objs) {
		if _, before := dryBefore[obj]; !before {
			bad = append(bad, msg)
		}
	}
	sort.Strings(bad)
	if len(bad) > 0 {
		r := result.Fail(NameInPlace, bad, "%d problem(s) after upgrading the control plane %s -> %s in place", len(bad), o.From, o.To)
		r.Duration = time.Since(t0)
		return r
	}
	msg := fmt.Sprintf("kube-apiserver %s -> %s on the same etcd data (%s): %d objects read back (%d applied from the platform), %d CRDs Established and served, strict dry run accepts every object; %s",
		o.From, o.To, time.Since(t0).Round(100*time.Millisecond), len(seen), len(applied), crdCount, describe(notApplied))
	r := result.Pass(NameInPlace, "%s", msg)
	r.Duration = time.Since(t0)
	return r
}

func describe(notApplied []string) string {
	if len(notApplied) == 0 {
		return "every object applied"
	}
	return fmt.Sprintf("%d object(s) not applied: %s", len(notApplied), strings.Join(notApplied, "; "))
}

func mapper(cfg *rest.Config) (*restmapper.DeferredDiscoveryRESTMapper, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc)), nil
}

// applyAll applies CRDs first (waiting until Established), then namespaces, then everything else, with
// server-side apply; it returns the applied objects by key with their uids, and what was left out and why.
func applyAll(ctx context.Context, cfg *rest.Config, objs []deploy.Object) (map[key]types.UID, []string, error) {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	rm, err := mapper(cfg)
	if err != nil {
		return nil, nil, err
	}
	applied := map[key]types.UID{}
	var notApplied []string
	rank := func(o deploy.Object) int {
		switch o.GetKind() {
		case "CustomResourceDefinition":
			return 0
		case "Namespace":
			return 1
		}
		return 2
	}
	sorted := append([]deploy.Object(nil), objs...)
	sort.SliceStable(sorted, func(i, j int) bool { return rank(sorted[i]) < rank(sorted[j]) })
	nsDone := map[string]bool{}
	crdsWaited := false
	crds := &deploy.CRDSet{Dir: "the platform's objects"}
	for _, o := range sorted {
		if leftOut[o.GetKind()] {
			notApplied = append(notApplied, o.GetKind()+" "+o.GetName()+" (nothing serves it here)")
			continue
		}
		if rank(o) == 2 && !crdsWaited {
			crdsWaited = true
			// The applied CRDs, waited for as every install waits: Established, names accepted, in discovery.
			if err := deploy.InstallCRDs(ctx, cfg, crds, time.Minute); err != nil {
				return nil, nil, err
			}
			rm.Reset()
		}
		if ns := o.GetNamespace(); ns != "" && !nsDone[ns] {
			nsDone[ns] = true
			n := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": ns}}}
			if _, _, err := apply(ctx, dyn, rm, n, false); err != nil {
				return nil, nil, fmt.Errorf("namespace %s: %w", ns, err)
			}
		}
		k, uid, err := apply(ctx, dyn, rm, o.Unstructured, false)
		if meta.IsNoMatchError(err) {
			notApplied = append(notApplied, fmt.Sprintf("%s %s (%s not served: its CRD is not among the objects)", o.GetKind(), o.GetName(), o.GetAPIVersion()))
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("apply %s %s (%s): %w", o.GetKind(), o.GetName(), o.Source, err)
		}
		k.src = o.Source
		applied[k] = uid
		if o.GetKind() == "CustomResourceDefinition" {
			crd := &apiextensionsv1.CustomResourceDefinition{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, crd); err != nil {
				return nil, nil, fmt.Errorf("CRD %s (%s): %w", o.GetName(), o.Source, err)
			}
			crds.CRDs = append(crds.CRDs, crd)
		}
	}
	return applied, notApplied, nil
}

func apply(ctx context.Context, dyn dynamic.Interface, rm meta.RESTMapper, u *unstructured.Unstructured, dryRun bool) (key, types.UID, error) {
	gvk := u.GroupVersionKind()
	m, err := rm.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return key{}, "", err
	}
	obj := u.DeepCopy()
	obj.SetResourceVersion("")
	obj.SetUID("")
	ns := obj.GetNamespace()
	if m.Scope.Name() != meta.RESTScopeNameNamespace {
		ns = ""
		obj.SetNamespace("")
	}
	data, err := json.Marshal(obj.Object)
	if err != nil {
		return key{}, "", err
	}
	force := true
	opts := metav1.PatchOptions{FieldManager: "harness-rehearse", Force: &force}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
		opts.FieldValidation = "Strict"
	}
	out, err := dyn.Resource(m.Resource).Namespace(ns).Patch(ctx, obj.GetName(), types.ApplyPatchType, data, opts)
	if err != nil {
		return key{}, "", err
	}
	return key{gvr: m.Resource, ns: ns, name: obj.GetName(), kind: gvk.Kind}, out.GetUID(), nil
}

func established(c *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(c.Object, "status", "conditions")
	for _, x := range conds {
		m, _ := x.(map[string]any)
		if m["type"] == "Established" && m["status"] == "True" {
			return true
		}
	}
	return false
}

// crdServed says what is wrong with a CRD on the new server: not Established, or a served version missing from
// discovery.
func crdServed(c *unstructured.Unstructured, served map[schema.GroupVersionResource]bool) string {
	if !established(c) {
		return fmt.Sprintf("CustomResourceDefinition %s: not Established after the upgrade", c.GetName())
	}
	group, _, _ := unstructured.NestedString(c.Object, "spec", "group")
	plural, _, _ := unstructured.NestedString(c.Object, "spec", "names", "plural")
	versions, _, _ := unstructured.NestedSlice(c.Object, "spec", "versions")
	for _, v := range versions {
		m, _ := v.(map[string]any)
		if s, _ := m["served"].(bool); !s {
			continue
		}
		name, _ := m["name"].(string)
		if !served[schema.GroupVersionResource{Group: group, Version: name, Resource: plural}] {
			return fmt.Sprintf("CustomResourceDefinition %s: version %s not served after the upgrade", c.GetName(), name)
		}
	}
	return ""
}

// servedResources lists every group-version-resource the server serves.
func servedResources(cfg *rest.Config) (map[schema.GroupVersionResource]bool, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	_, lists, err := dc.ServerGroupsAndResources()
	if err != nil && len(lists) == 0 {
		return nil, err
	}
	out := map[schema.GroupVersionResource]bool{}
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range l.APIResources {
			if !strings.Contains(r.Name, "/") {
				out[gv.WithResource(r.Name)] = true
			}
		}
	}
	return out, nil
}

// record lists every object of every listable resource in every served group-version.
func record(ctx context.Context, cfg *rest.Config) (map[key]types.UID, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	_, lists, err := dc.ServerGroupsAndResources()
	if err != nil && len(lists) == 0 {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	out := map[key]types.UID{}
	once := map[string]bool{}
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range l.APIResources {
			if strings.Contains(r.Name, "/") || !hasVerb(r.Verbs, "list") || !hasVerb(r.Verbs, "get") {
				continue
			}
			gvr := gv.WithResource(r.Name)
			items, err := dyn.Resource(gvr).Namespace("").List(ctx, metav1.ListOptions{})
			if apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("list %s: %w", gvr, err)
			}
			for _, it := range items.Items {
				gr := gvr.GroupResource().String() + "/" + it.GetNamespace() + "/" + it.GetName()
				if ephemeral(gvr, &it) || once[gr] {
					continue // one version of each object is enough: storage holds one
				}
				once[gr] = true
				out[key{gvr: gvr, ns: it.GetNamespace(), name: it.GetName(), kind: r.Kind}] = it.GetUID()
			}
		}
	}
	return out, nil
}

func hasVerb(verbs []string, v string) bool {
	for _, x := range verbs {
		if x == v {
			return true
		}
	}
	return false
}

// dryRunAll applies every object again as a strict server-side dry run; refusals by object.
func dryRunAll(ctx context.Context, cfg *rest.Config, objs []deploy.Object) map[string]string {
	bad := map[string]string{}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return map[string]string{"": err.Error()}
	}
	rm, err := mapper(cfg)
	if err != nil {
		return map[string]string{"": err.Error()}
	}
	for _, o := range objs {
		if leftOut[o.GetKind()] {
			continue
		}
		_, _, err := apply(ctx, dyn, rm, o.Unstructured, true)
		if meta.IsNoMatchError(err) {
			continue // not applied before either (listed in the result)
		}
		if err != nil {
			id := fmt.Sprintf("%s %s/%s (%s)", o.GetKind(), o.GetNamespace(), o.GetName(), o.Source)
			bad[id] = fmt.Sprintf("%s: strict dry run refused after the upgrade: %v", id, err)
		}
	}
	return bad
}

// ephemeral objects belong to one API server instance or expire by design: the servers' identity Leases (each
// server holds its own, the old one's is garbage-collected), Events (a TTL) and the APIServices a server manages
// for its own group-versions.
func ephemeral(gvr schema.GroupVersionResource, o *unstructured.Unstructured) bool {
	switch {
	case gvr.Resource == "leases" && o.GetLabels()["apiserver.kubernetes.io/identity"] != "":
		return true
	case gvr.Resource == "events":
		return true
	case gvr.Resource == "apiservices" && o.GetLabels()["kube-aggregator.kubernetes.io/automanaged"] != "":
		return true // the server's own, one per group-version it serves
	}
	return false
}
