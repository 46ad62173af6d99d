package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// Object is one rendered Kubernetes object and where it came from.
type Object struct {
	// Source is the template or manifest file the object came from.
	Source string
	*unstructured.Unstructured
}

// Decode parses a multi-document YAML stream into objects; empty documents are skipped, a document without
// apiVersion or kind is an error naming the source.
func Decode(source string, data []byte) ([]Object, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []Object
	for i := 0; ; i++ {
		m := map[string]any{}
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, fmt.Errorf("%s: document %d: %w", source, i+1, err)
		}
		if len(m) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		if u.GetAPIVersion() == "" || u.GetKind() == "" {
			return nil, fmt.Errorf("%s: document %d has no apiVersion or kind", source, i+1)
		}
		out = append(out, Object{Source: source, Unstructured: u})
	}
}

// String names the object as kind/namespace/name.
func (o Object) String() string {
	if ns := o.GetNamespace(); ns != "" {
		return fmt.Sprintf("%s/%s/%s", o.GetKind(), ns, o.GetName())
	}
	return fmt.Sprintf("%s/%s", o.GetKind(), o.GetName())
}

// Namespaced reports whether a kind is namespaced, for the kinds charts and release manifests write without a
// namespace (applied with -n).
func Namespaced(kind string) bool {
	switch kind {
	case "Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding", "PriorityClass",
		"StorageClass", "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "APIService",
		"ClusterIssuer", "ClusterServingRuntime", "ClusterStorageContainer", "IngressClass", "RuntimeClass":
		return false
	}
	return true
}
