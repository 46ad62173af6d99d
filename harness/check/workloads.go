package check

import (
	"context"
	"slices"
	"time"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/check/workload"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/internal/proc"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
)

// tier is what the workload step uses of workload.Tier.
type tier interface {
	KFP(context.Context) result.Result
	Flyte(context.Context) result.Result
	KServe(context.Context) result.Result
	StartRayHead(context.Context)
	RayTrain(context.Context) result.Result
	RayServe(context.Context) result.Result
	Stop()
}

// Seams for the tests: the tier of a run, and what frees the cluster for its Ray steps.
var (
	newTier = func(r *Run) (tier, error) {
		cfg := *r.Workloads
		cfg.Platform = r.Platform
		if r.Cluster != nil && r.Cluster.Emulated() {
			cfg.Rest, cfg.Kubeconfig = r.REST(), r.Cluster.Kubeconfig()
		}
		t, err := workload.New(cfg)
		if err != nil {
			return nil, err
		}
		return t, nil
	}
	freeForRay = func(ctx context.Context, r *Run) error {
		if r.Cluster != nil && r.Cluster.Emulated() {
			// The probes are done: their pods would hold the GPU node the Ray workers need.
			return r.DeleteProbeDeployments(ctx)
		}
		return nil
	}
)

// aheadSteps are the workload tier's steps that touch no cluster (KFP compiles, Flyte runs locally, KServe's model
// server on loopback, all on the S3 emulator), in the tier's order; the Ray steps run after them.
func aheadSteps(t tier) []func(context.Context) result.Result {
	return []func(context.Context) result.Result{t.KFP, t.Flyte, t.KServe}
}

// workloadsAhead is the workload tier started ahead of its step (startWorkloads): its steps that touch no cluster,
// and the Ray head's start, run beside the cluster steps after the deploy.
type workloadsAhead struct {
	tier    tier
	cancel  context.CancelFunc
	done    chan struct{}
	results []result.Result
	err     error // the tier could not be created, or the run's context ended
}

// startWorkloads starts the workload tier beside the cluster steps that follow the deploy (Karpenter, the probes,
// the API server's acceptance): KFP, Flyte and KServe, then the Ray head — tens of seconds of Python that need
// neither the cluster nor its GPU node, which the probes hold until the workload step. Their results are reported
// in the workload step's place, as if it had run them; the Ray steps run there, after the probes. Only when the run
// has a workload step and a cluster step after the deploy.
func (r *Run) startWorkloads(ctx context.Context, after int) {
	if r.Workloads == nil || r.ahead != nil || r.Cluster == nil {
		return
	}
	rest := r.steps[after:]
	if !slices.ContainsFunc(rest, func(s Step) bool { return s.Phase == PhaseWorkload }) ||
		!slices.ContainsFunc(rest, func(s Step) bool { return s.NeedsCluster() }) {
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	a := &workloadsAhead{cancel: cancel, done: make(chan struct{})}
	r.ahead = a
	go func() {
		defer close(a.done)
		if a.tier, a.err = newTier(r); a.err != nil {
			return
		}
		// KFP, Flyte and KServe below the run's own steps (proc.Background): Karpenter and the probes are the longest
		// path, and these have slack until the probes end. The Ray head at the run's priority: its processes serve the
		// Ray steps, beside the control plane and the KubeRay operator. (The S3 emulator, started by the first step
		// that needs it, stays at the lower priority; it answers a few requests of the Ray steps.)
		a.results, a.err = runSteps(proc.Background(ctx), aheadSteps(a.tier))
		if a.err == nil {
			a.tier.StartRayHead(ctx)
		}
	}()
}

// stopWorkloads ends a tier started ahead that its step did not take (the run stopped early) and stops its
// processes.
func (r *Run) stopWorkloads() {
	a := r.ahead
	if a == nil {
		return
	}
	r.ahead = nil
	a.cancel()
	<-a.done
	if a.tier != nil {
		a.tier.Stop()
	}
}

// runSteps runs steps in order, timing each result; it stops when ctx ends.
func runSteps(ctx context.Context, steps []func(context.Context) result.Result) ([]result.Result, error) {
	var out []result.Result
	for _, step := range steps {
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
	var (
		t     tier
		out   []result.Result
		ahead bool
	)
	if a := r.ahead; a != nil {
		<-a.done
		if a.err != nil { // the run's context ended (or no tier): what ran is reported, as in the step itself
			r.stopWorkloads()
			return a.results, a.err
		}
		r.ahead = nil
		t, out, ahead = a.tier, a.results, true
		defer a.cancel()
	} else {
		var err error
		if t, err = newTier(r); err != nil {
			return nil, err
		}
	}
	defer t.Stop()
	if !ahead {
		var err error
		if out, err = runSteps(ctx, aheadSteps(t)); err != nil {
			return out, err
		}
	}
	if err := freeForRay(ctx, r); err != nil {
		return out, err
	}
	ray, err := runSteps(ctx, []func(context.Context) result.Result{t.RayTrain, t.RayServe})
	return append(out, ray...), err
}
