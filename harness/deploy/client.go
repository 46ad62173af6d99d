package deploy

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
)

// Resources finds the dynamic client for any object's kind through the cluster's discovery (custom resources
// included once their CRDs are served).
type Resources struct {
	mapper meta.RESTMapper
	dyn    dynamic.Interface
}

// NewResources builds the discovery-backed mapper and dynamic client for rc.
func NewResources(rc *rest.Config) (*Resources, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("dynamic client: %w", err)
	}
	return &Resources{mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc)), dyn: dyn}, nil
}

// For is the client for u's kind, in u's namespace ("default" when a namespaced object names none). A kind the
// cluster does not serve gives an error for which meta.IsNoMatchError is true.
func (r *Resources) For(u *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
	gvk := u.GroupVersionKind()
	m, err := r.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, err
	}
	if m.Scope.Name() != meta.RESTScopeNameNamespace {
		return r.dyn.Resource(m.Resource), nil
	}
	ns := u.GetNamespace()
	if ns == "" {
		ns = "default"
	}
	return r.dyn.Resource(m.Resource).Namespace(ns), nil
}
