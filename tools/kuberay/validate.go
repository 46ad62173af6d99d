package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilfeature "k8s.io/apiserver/pkg/util/feature"

	rayv1 "github.com/ray-project/kuberay/ray-operator/apis/ray/v1"
	"github.com/ray-project/kuberay/ray-operator/controllers/ray/utils"
)

// verdict is KubeRay's answer on one object: empty Reason and Message when its reconciler would go on, else the
// event reason its reconciler records (InvalidRayJobSpec, …) and the validation's own message.
type verdict struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	Reason    string `json:"reason,omitempty"`
	Message   string `json:"message,omitempty"`
	// Skipped says why KubeRay would not judge the object (managed by another controller).
	Skipped string `json:"skipped,omitempty"`
}

// validate reads a JSON array of RayCluster, RayJob and RayService objects (as the API server returns them:
// CRD defaults applied) and answers, for each, what KubeRay's reconcilers check before they create anything —
// the same functions, in the same order, as RayClusterReconciler.rayClusterReconcile, RayJobReconciler's
// validateRayJob and RayServiceReconciler.Reconcile call. gates are the operator's --feature-gates (the chart's
// featureGates), which some rules read.
func validate(in io.Reader, out io.Writer, gates string) error {
	if gates != "" {
		if err := utilfeature.DefaultMutableFeatureGate.Set(gates); err != nil {
			return fmt.Errorf("--feature-gates: %w", err)
		}
	}
	var raw []json.RawMessage
	if err := json.NewDecoder(in).Decode(&raw); err != nil {
		return fmt.Errorf("reading the objects: %w", err)
	}
	verdicts := make([]verdict, 0, len(raw))
	for i, r := range raw {
		var tm metav1.TypeMeta
		if err := json.Unmarshal(r, &tm); err != nil {
			return fmt.Errorf("object %d: %w", i, err)
		}
		v, err := validateOne(tm.Kind, r)
		if err != nil {
			return fmt.Errorf("object %d (%s): %w", i, tm.Kind, err)
		}
		verdicts = append(verdicts, v)
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", " ")
	return enc.Encode(verdicts)
}

type check struct {
	reason utils.K8sEventType
	run    func() error
}

func validateOne(kind string, r json.RawMessage) (verdict, error) {
	var meta metav1.ObjectMeta
	var checks []check
	skipped := ""
	switch kind {
	case "RayCluster":
		c := &rayv1.RayCluster{}
		if err := json.Unmarshal(r, c); err != nil {
			return verdict{}, err
		}
		meta = c.ObjectMeta
		if m := utils.ManagedByExternalController(c.Spec.ManagedBy); m != nil {
			skipped = "managed by " + *m + ", which KubeRay leaves it to"
		}
		checks = []check{
			{utils.InvalidRayClusterMetadata, func() error { return utils.ValidateRayClusterMetadata(c.ObjectMeta) }},
			{utils.InvalidRayClusterSpec, func() error { return utils.ValidateRayClusterSpec(&c.Spec, c.Annotations) }},
			{utils.InvalidRayClusterStatus, func() error { return utils.ValidateRayClusterStatus(c) }},
		}
	case "RayJob":
		j := &rayv1.RayJob{}
		if err := json.Unmarshal(r, j); err != nil {
			return verdict{}, err
		}
		meta = j.ObjectMeta
		if m := utils.ManagedByExternalController(j.Spec.ManagedBy); m != nil {
			skipped = "managed by " + *m + ", which KubeRay leaves it to"
		}
		checks = []check{
			{utils.InvalidRayJobMetadata, func() error { return utils.ValidateRayJobMetadata(j.ObjectMeta) }},
			{utils.InvalidRayJobSpec, func() error { return utils.ValidateRayJobSpec(j) }},
			{utils.InvalidRayJobStatus, func() error { return utils.ValidateRayJobStatus(j) }},
		}
	case "RayService":
		s := &rayv1.RayService{}
		if err := json.Unmarshal(r, s); err != nil {
			return verdict{}, err
		}
		meta = s.ObjectMeta
		checks = []check{
			{utils.InvalidRayServiceMetadata, func() error { return utils.ValidateRayServiceMetadata(s.ObjectMeta) }},
			{utils.InvalidRayServiceSpec, func() error { return utils.ValidateRayServiceSpec(s) }},
		}
	default:
		return verdict{}, fmt.Errorf("not a kind KubeRay reconciles (want RayCluster, RayJob or RayService)")
	}
	v := verdict{Kind: kind, Namespace: meta.Namespace, Name: meta.Name, Skipped: skipped}
	if skipped != "" {
		return v, nil
	}
	for _, c := range checks {
		if err := c.run(); err != nil {
			v.Reason, v.Message = string(c.reason), strings.TrimSpace(err.Error())
			break
		}
	}
	return v, nil
}
