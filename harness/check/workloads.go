package check

import (
	"context"
	"time"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/check/workload"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
)

// workloads is the workload tier (harness/workload): the project's Flyte, KServe, Ray and KFP code run with the
// real runtimes. The Ray steps need the emulated cluster (the real KubeRay operator reconciles there, with the
// dashboard at a local Ray head); on a real cluster the nightly's smoke tests run them on the cluster's own KubeRay.
func workloads(ctx context.Context, r *Run) ([]result.Result, error) {
	if r.Workloads == nil {
		var out []result.Result
		for _, n := range workload.Names {
			out = append(out, result.Skip(n, "the workload tier is off (harness check --workloads)"))
		}
		return out, nil
	}
	cfg := *r.Workloads
	cfg.Platform = r.Platform
	if r.Cluster != nil && r.Cluster.Emulated() {
		cfg.Rest, cfg.Kubeconfig = r.REST(), r.Cluster.Kubeconfig()
		// The probes are done: their pods would hold the GPU node the Ray workers need.
		if err := r.DeleteProbeDeployments(ctx); err != nil {
			return nil, err
		}
	}
	t, err := workload.New(cfg)
	if err != nil {
		return nil, err
	}
	defer t.Stop()
	var out []result.Result
	for _, step := range []func(context.Context) result.Result{t.KFP, t.Flyte, t.KServe, t.RayTrain, t.RayServe} {
		if err := ctx.Err(); err != nil {
			return out, context.Cause(ctx)
		}
		t0 := time.Now()
		res := step(ctx)
		res.Duration = time.Since(t0)
		out = append(out, res)
	}
	return out, nil
}
