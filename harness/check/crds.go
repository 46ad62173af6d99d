package check

import (
	"fmt"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/engine"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
)

// CRDs judges the install of the generated CRDs (engine.InstallCRDs): not generated or not given is a skip — custom
// resources are then not validated against the upstream schemas, never a pass; an install that stopped fails.
func CRDs(in engine.CRDInstall) result.Result {
	const name = "crds"
	switch {
	case in.Missing != "":
		return result.Skip(name, "%s; custom resources are not validated", in.Missing)
	case in.Err != nil:
		return result.Fail(name, nil, "%v", in.Err)
	}
	r := result.Pass(name, "%d CRDs generated from upstream Go types installed and served", len(in.Installed))
	if len(in.Left) > 0 {
		r.Message += fmt.Sprintf("; %d left to the charts that ship them", len(in.Left))
	}
	r.Details = append(append(append([]string{}, in.Installed...), in.Sources...), in.Left...)
	return r
}

// Workflows judges the workflow manifests' creation (engine.ApplyWorkflows): any manifest the API server refused
// fails naming it and why; kinds the cluster does not serve are a skip (their CRDs are not installed), never a
// pass; on a real cluster nothing is created here (the smoke tests submit them).
func Workflows(in engine.WorkflowApply) result.Result {
	const name = "deploy/workflows"
	switch {
	case in.RealCluster:
		return result.Skip(name, "real cluster: workflows are only dry-run here (the smoke tests submit them)")
	case in.Err != nil:
		return result.Fail(name, nil, "%v", in.Err)
	case len(in.Problems) > 0:
		return result.Fail(name, in.Problems, "%d of %d workflow manifests not applied", len(in.Problems), len(in.Problems)+len(in.Applied)+len(in.Unserved))
	case len(in.Unserved) > 0:
		r := result.Skip(name, "%d workflow manifest(s) of kinds this cluster does not serve (CRDs not installed)", len(in.Unserved))
		r.Details = in.Unserved
		return r
	case len(in.Applied) == 0:
		return result.Skip(name, "no workflow manifests")
	}
	r := result.Pass(name, "%d workflow manifests applied; no operator runs them here, their pod templates are placed by probes", len(in.Applied))
	r.Details = in.Applied
	return r
}
