package check

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/engine"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
)

// TestCRDsNeverPassWithoutInstalling: CRDs not generated is a skip (nothing validated), an install that stopped
// fails with its error, and only an install that happened passes, counting what it installed and left to charts.
func TestCRDsNeverPassWithoutInstalling(t *testing.T) {
	r := CRDs(engine.CRDInstall{Missing: "no CRDs in bin/crds: run make crds"})
	assert.Equal(t, result.Skipped, r.Status)
	assert.Equal(t, "no CRDs in bin/crds: run make crds; custom resources are not validated", r.Message)

	r = CRDs(engine.CRDInstall{Err: errors.New("CRD rayjobs.ray.io not established within 1m0s")})
	assert.Equal(t, result.Failed, r.Status)
	assert.Contains(t, r.Message, "rayjobs.ray.io not established")

	r = CRDs(engine.CRDInstall{Installed: []string{"rayjobs.ray.io", "nodepools.karpenter.sh"}, Left: []string{"certificates.cert-manager.io"}})
	assert.Equal(t, result.Passed, r.Status)
	assert.Equal(t, "2 CRDs generated from upstream Go types installed and served; 1 left to the charts that ship them", r.Message)
	assert.Contains(t, r.Details, "certificates.cert-manager.io")
}

// TestWorkflowsFailOnARefusedManifest: one manifest the API server refuses fails the step naming it; kinds the
// cluster does not serve, a real cluster and no manifests at all are skips, never passes.
func TestWorkflowsFailOnARefusedManifest(t *testing.T) {
	refused := `RayJob/ml-training/train-mlp (workflows/ray/rayjob.yaml): strict decoding error: unknown field "spec.shutdownAfterJobFinished"`
	r := Workflows(engine.WorkflowApply{Applied: []string{"RayService/ml-serving/mlp"}, Problems: []string{refused}})
	assert.Equal(t, result.Failed, r.Status)
	assert.Equal(t, "1 of 2 workflow manifests not applied", r.Message)
	assert.Equal(t, []string{refused}, r.Details)

	for _, in := range []engine.WorkflowApply{
		{Applied: []string{"RayService/ml-serving/mlp"}, Unserved: []string{"InferenceService/kserve/mlp (workflows/kserve/inferenceservice.yaml)"}},
		{RealCluster: true},
		{},
	} {
		assert.Equal(t, result.Skipped, Workflows(in).Status, "%+v", in)
	}
	r = Workflows(engine.WorkflowApply{Applied: []string{"RayJob/ml-training/train-mlp"}})
	assert.Equal(t, result.Passed, r.Status)
	assert.Equal(t, "1 workflow manifests applied; no operator runs them here, their pod templates are placed by probes", r.Message)
}
