// Package v1beta1 is a deliberately small stand-in for KServe's serving.kserve.io/v1beta1 API, used only to
// generate an InferenceService CRD with a real schema for the fields this project's manifests use.
//
// Why it exists: no version of github.com/kserve/kserve is served by the Go module proxy these machines reach,
// so the upstream Go types cannot be loaded. The field names and JSON tags follow KServe's v1beta1 API
// (pkg/apis/serving/v1beta1: InferenceServiceSpec, PredictorSpec, ComponentExtensionSpec, ModelSpec,
// PredictorExtensionSpec); pod-level and container-level fields reuse the real Kubernetes core/v1 types, so
// tolerations, affinity, node selectors and resources are validated exactly. A field KServe has and this subset
// lacks is rejected as unknown by a strict dry run — extend the subset rather than loosening the schema.
//
// +groupName=serving.kserve.io
// +kubebuilder:object:generate=false
package v1beta1
