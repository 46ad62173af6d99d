package v1beta1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// InferenceService is the Schema for the InferenceServices API.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:path=inferenceservices,shortName=isvc
// +kubebuilder:storageversion
type InferenceService struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec InferenceServiceSpec `json:"spec,omitempty"`
	// +optional
	Status InferenceServiceStatus `json:"status,omitempty"`
}

// InferenceServiceSpec is the top-level type for the InferenceService resource.
type InferenceServiceSpec struct {
	// Predictor defines the model serving spec.
	// +required
	Predictor PredictorSpec `json:"predictor"`
	// Explainer defines the model explanation service spec.
	// +optional
	Explainer *ComponentSpec `json:"explainer,omitempty"`
	// Transformer defines the pre/post processing before and after the predictor call.
	// +optional
	Transformer *ComponentSpec `json:"transformer,omitempty"`
}

// PredictorSpec defines the configuration for a predictor.
type PredictorSpec struct {
	// Model spec for any arbitrary framework.
	// +optional
	Model *ModelSpec `json:"model,omitempty"`

	PodSpec                `json:",inline"`
	ComponentExtensionSpec `json:",inline"`
}

// ComponentSpec is a transformer or explainer: a pod spec plus the component extension.
type ComponentSpec struct {
	PodSpec                `json:",inline"`
	ComponentExtensionSpec `json:",inline"`
}

// ModelSpec describes the model and the serving runtime that loads it.
type ModelSpec struct {
	// ModelFormat being served.
	// +required
	ModelFormat ModelFormat `json:"modelFormat"`
	// Runtime names a specific ClusterServingRuntime/ServingRuntime.
	// +optional
	Runtime *string `json:"runtime,omitempty"`

	PredictorExtensionSpec `json:",inline"`
}

// ModelFormat names the framework a model was saved with.
type ModelFormat struct {
	// +required
	Name string `json:"name"`
	// +optional
	Version *string `json:"version,omitempty"`
}

// PredictorExtensionSpec is the model location, protocol and the serving container.
type PredictorExtensionSpec struct {
	// StorageURI is the location of the model (s3://, gs://, pvc://, ...).
	// +optional
	StorageURI *string `json:"storageUri,omitempty"`
	// RuntimeVersion of the predictor docker image.
	// +optional
	RuntimeVersion *string `json:"runtimeVersion,omitempty"`
	// ProtocolVersion of the inference protocol.
	// +kubebuilder:validation:Enum=v1;v2;grpc-v2
	// +optional
	ProtocolVersion *string `json:"protocolVersion,omitempty"`

	Container `json:",inline"`
}

// Container is the serving container; KServe fills name and image from the serving runtime, so both are optional.
type Container struct {
	// +optional
	Name string `json:"name,omitempty"`
	// +optional
	Image string `json:"image,omitempty"`
	// +optional
	Command []string `json:"command,omitempty"`
	// +optional
	Args []string `json:"args,omitempty"`
	// +optional
	Env []corev1.EnvVar `json:"env,omitempty"`
	// +optional
	Ports []corev1.ContainerPort `json:"ports,omitempty"`
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`
	// +optional
	VolumeMounts []corev1.VolumeMount `json:"volumeMounts,omitempty"`
	// +optional
	SecurityContext *corev1.SecurityContext `json:"securityContext,omitempty"`
}

// PodSpec is the subset of core/v1 PodSpec KServe components accept inline; containers are optional because
// the serving runtime provides them.
type PodSpec struct {
	// +optional
	Containers []corev1.Container `json:"containers,omitempty"`
	// +optional
	Volumes []corev1.Volume `json:"volumes,omitempty"`
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	// +optional
	Affinity *corev1.Affinity `json:"affinity,omitempty"`
	// +optional
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`
	// +optional
	TopologySpreadConstraints []corev1.TopologySpreadConstraint `json:"topologySpreadConstraints,omitempty"`
	// +optional
	ServiceAccountName string `json:"serviceAccountName,omitempty"`
	// +optional
	PriorityClassName string `json:"priorityClassName,omitempty"`
	// +optional
	RuntimeClassName *string `json:"runtimeClassName,omitempty"`
	// +optional
	SchedulerName string `json:"schedulerName,omitempty"`
	// +optional
	SecurityContext *corev1.PodSecurityContext `json:"securityContext,omitempty"`
	// +optional
	ImagePullSecrets []corev1.LocalObjectReference `json:"imagePullSecrets,omitempty"`
}

// ComponentExtensionSpec defines the deployment configuration shared by every component.
type ComponentExtensionSpec struct {
	// Minimum number of replicas; 0 allows scale to zero (serverless mode).
	// +kubebuilder:validation:Minimum=0
	// +optional
	MinReplicas *int32 `json:"minReplicas,omitempty"`
	// Maximum number of replicas for autoscaling.
	// +kubebuilder:validation:Minimum=0
	// +optional
	MaxReplicas int32 `json:"maxReplicas,omitempty"`
	// ScaleTarget is the autoscaling target value.
	// +optional
	ScaleTarget *int32 `json:"scaleTarget,omitempty"`
	// ScaleMetric is the autoscaling metric.
	// +kubebuilder:validation:Enum=cpu;memory;concurrency;rps
	// +optional
	ScaleMetric *string `json:"scaleMetric,omitempty"`
	// ContainerConcurrency is the hard limit of concurrent requests per container.
	// +optional
	ContainerConcurrency *int64 `json:"containerConcurrency,omitempty"`
	// TimeoutSeconds for a request.
	// +optional
	TimeoutSeconds *int64 `json:"timeout,omitempty"`
	// CanaryTrafficPercent is the traffic split to the latest revision.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +optional
	CanaryTrafficPercent *int64 `json:"canaryTrafficPercent,omitempty"`
	// Labels added to the component's pods.
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// Annotations added to the component's pods.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}

// InferenceServiceStatus is what the KServe controller reports; nothing in this project writes it.
type InferenceServiceStatus struct {
	// +optional
	URL string `json:"url,omitempty"`
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}
