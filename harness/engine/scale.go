package engine

import (
	"context"
	"fmt"
	"time"
)

// ScaleForGPUs scales GPU groups up (within max_size) when GPU probes wait only for GPUs, and re-reads the
// placements. The groups' sizes are the cluster's (Cluster.Shape), before and after. A cluster without a
// Scaler is left as it is.
func (e *Env) ScaleForGPUs(ctx context.Context, ps []Placement) ([]Placement, error) {
	if e.karpenter != nil {
		return e.karpenterPlaces(ctx, ps)
	}
	sc, ok := e.Scaler()
	if !ok {
		return ps, nil
	}
	var need int64
	for _, pl := range ps {
		if pl.Node == "" && pl.Workload.GPUs() > 0 && e.Platform.FitsGPUGroup(pl.Workload) {
			need += pl.Workload.GPUs()
		}
	}
	if need == 0 {
		return ps, nil
	}
	for _, g := range e.Cluster.Shape().Groups {
		if !g.Instance.GPU() || need <= 0 {
			continue
		}
		add := min(int((need+int64(g.Instance.GPUs)-1)/int64(g.Instance.GPUs)), g.MaxSize-g.DesiredSize)
		if add <= 0 {
			continue
		}
		if err := sc.ScaleGroup(ctx, g.Name, g.DesiredSize+add); err != nil {
			return ps, fmt.Errorf("scale %s: %w", g.Name, err)
		}
		need -= int64(add * g.Instance.GPUs)
	}
	// New nodes: kwok readies them, the scheduler places the waiting GPU pods and the device plugin's pods.
	return settle(ctx, e.clientset, e.tracked, time.Minute)
}

// karpenterPlaces lets Karpenter launch nodes for the pending GPU pods (the node groups keep their sizes: Karpenter
// is the autoscaler), then re-reads the placements; a pod still Pending carries Karpenter's reason beside the
// scheduler's.
func (e *Env) karpenterPlaces(ctx context.Context, ps []Placement) ([]Placement, error) {
	pending := false
	for _, pl := range ps {
		pending = pending || (pl.Node == "" && pl.Workload.GPUs() > 0)
	}
	if !pending {
		return ps, nil
	}
	// A Karpenter that does not settle is a verdict too: the pods still Pending say so (gpu-capacity fails).
	waitErr := e.waitKarpenter(ctx, 3*time.Minute)
	if ctx.Err() != nil {
		return ps, ctx.Err()
	}
	ps, err := settle(ctx, e.clientset, e.tracked, time.Minute)
	if err != nil {
		return ps, err
	}
	why := e.KarpenterWhy(ctx)
	for i, pl := range ps {
		if pl.Node == "" && pl.Workload.GPUs() > 0 {
			if why[pl.Pod] != "" {
				ps[i].Pending += "; Karpenter: " + why[pl.Pod]
			}
			if waitErr != nil {
				ps[i].Pending += "; Karpenter had not settled after 3m: " + waitErr.Error()
			}
		}
	}
	return ps, nil
}
