package check

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/check/workload"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/engine"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/platform"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
)

// fakeTier records what the workload step asked of the tier, in order.
type fakeTier struct {
	mu     sync.Mutex
	events []string
	// headStarted is closed when the Ray head's start was asked for.
	headStarted chan struct{}
	// block, when set, holds KFP until the context ends.
	block bool
}

func (f *fakeTier) log(e string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, e)
}

func (f *fakeTier) Events() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.events...)
}

func (f *fakeTier) step(name string) func(context.Context) result.Result {
	return func(ctx context.Context) result.Result {
		f.log(name)
		if f.block {
			select {
			case <-ctx.Done():
			case <-time.After(10 * time.Second): // not cancelled: the test fails below rather than hanging
				f.log("not cancelled")
			}
			return result.Fail(name, nil, "%v", ctx.Err())
		}
		return result.Pass(name, "")
	}
}

func (f *fakeTier) KFP(ctx context.Context) result.Result    { return f.step(workload.NameKFP)(ctx) }
func (f *fakeTier) Flyte(ctx context.Context) result.Result  { return f.step(workload.NameFlyte)(ctx) }
func (f *fakeTier) KServe(ctx context.Context) result.Result { return f.step(workload.NameKServe)(ctx) }
func (f *fakeTier) StartRayHead(context.Context) {
	f.log("ray head")
	close(f.headStarted)
}
func (f *fakeTier) RayTrain(ctx context.Context) result.Result {
	return f.step(workload.NameRayTrain)(ctx)
}
func (f *fakeTier) RayServe(ctx context.Context) result.Result {
	return f.step(workload.NameRayServe)(ctx)
}
func (f *fakeTier) Stop() { f.log("stop") }

// withFakeTier replaces the tier and the freeing of the GPU node for one test.
func withFakeTier(t *testing.T, f *fakeTier) {
	t.Helper()
	nt, fr := newTier, freeForRay
	t.Cleanup(func() { newTier, freeForRay = nt, fr })
	newTier = func(*Run) (tier, error) { f.log("new"); return f, nil }
	freeForRay = func(context.Context, *Run) error { f.log("probes deleted"); return nil }
}

// The workload tier's steps that touch no cluster, and the Ray head's start, run beside the cluster steps after the
// deploy: they start only once the deploy has ended, the probes step is still running when the Ray head starts, the
// Ray steps run only after the probes' pods are gone, and every result stands in the workload step's place, in the
// tier's order. The breaking case: the tier started in its own step, the probes step would wait out its deadline
// for a Ray head that has not started.
func TestWorkloadTierStartsAheadOfItsStep(t *testing.T) {
	f := &fakeTier{headStarted: make(chan struct{})}
	withFakeTier(t, f)
	pass := func(name string) func(context.Context, *Run) result.Result {
		return func(context.Context, *Run) result.Result { f.log(name); return result.Pass(name, "") }
	}
	steps := []Step{
		{Names: []string{"consistency"}, Phase: PhaseStatic, Run: one(pass("consistency"))},
		{Names: []string{"deploy"}, Phase: PhaseDeploy, Run: one(pass("deploy/x"))},
		{Names: []string{"gpu-isolation"}, Phase: PhasePlacement, Run: one(func(context.Context, *Run) result.Result {
			f.log("probes")
			select {
			case <-f.headStarted:
				return result.Pass("gpu-isolation", "")
			case <-time.After(10 * time.Second):
				return result.Fail("gpu-isolation", nil, "the Ray head did not start beside the probes")
			}
		})},
		{Names: workload.Names, Phase: PhaseWorkload, Run: workloads},
	}
	r := &Run{Env: &engine.Env{Platform: &platform.Platform{}, Cluster: emulatedOnly{}}, Workloads: &workload.Config{}}
	var seen []string
	rs, err := Execute(context.Background(), r, steps, func(res result.Result) { seen = append(seen, res.Name) })
	require.NoError(t, err)
	var names []string
	for _, res := range rs {
		names = append(names, res.Name)
		assert.Equal(t, result.Passed, res.Status, "%s: %s", res.Name, res.Message)
	}
	want := []string{"consistency", "deploy/x", "gpu-isolation", workload.NameKFP, workload.NameFlyte, workload.NameKServe, workload.NameRayTrain, workload.NameRayServe}
	assert.Equal(t, want, names)
	assert.Equal(t, want, seen, "reported in place, once")
	ev := f.Events()
	at := func(e string) int {
		for i, x := range ev {
			if x == e {
				return i
			}
		}
		t.Fatalf("%q never happened: %v", e, ev)
		return -1
	}
	assert.Less(t, at("deploy/x"), at("new"), "the tier starts after the deploy: %v", ev)
	assert.Less(t, at(workload.NameKServe), at("ray head"), "the head after the steps it does not need: %v", ev)
	assert.Less(t, at("probes"), at("probes deleted"), "%v", ev)
	assert.Less(t, at("probes deleted"), at(workload.NameRayTrain), "the Ray steps wait for the GPU node: %v", ev)
	assert.Equal(t, "stop", ev[len(ev)-1], "the tier is stopped once, at the end: %v", ev)

	// Without a cluster step after the deploy nothing runs ahead: the tier runs in its step, as before.
	f = &fakeTier{headStarted: make(chan struct{})}
	withFakeTier(t, f)
	r = &Run{Env: &engine.Env{Platform: &platform.Platform{}, Cluster: emulatedOnly{}}, Workloads: &workload.Config{}}
	rs, err = Execute(context.Background(), r, []Step{steps[1], steps[3]}, nil)
	require.NoError(t, err)
	assert.Len(t, rs, 6)
	assert.Equal(t, []string{"deploy/x", "new", workload.NameKFP, workload.NameFlyte, workload.NameKServe, "probes deleted",
		workload.NameRayTrain, workload.NameRayServe, "stop"}, f.Events())
}

// A run that stops before the workload step (a step's error, an interrupt) cancels the tier started ahead and stops
// its processes before Execute returns; none of its results is reported.
func TestAnEarlyEndStopsTheTierStartedAhead(t *testing.T) {
	f := &fakeTier{headStarted: make(chan struct{}), block: true}
	withFakeTier(t, f)
	steps := []Step{
		{Names: []string{"deploy"}, Phase: PhaseDeploy, Run: one(func(context.Context, *Run) result.Result { return result.Pass("deploy/x", "") })},
		{Names: []string{"gpu-isolation"}, Phase: PhasePlacement, Run: func(context.Context, *Run) ([]result.Result, error) {
			for t0 := time.Now(); !slices.Contains(f.Events(), workload.NameKFP) && time.Since(t0) < 10*time.Second; {
				time.Sleep(10 * time.Millisecond)
			}
			return nil, errors.New("the cluster went away")
		}},
		{Names: workload.Names, Phase: PhaseWorkload, Run: workloads},
	}
	r := &Run{Env: &engine.Env{Platform: &platform.Platform{}, Cluster: emulatedOnly{}}, Workloads: &workload.Config{}}
	rs, err := Execute(context.Background(), r, steps, nil)
	require.EqualError(t, err, "the cluster went away")
	require.Len(t, rs, 1)
	assert.Equal(t, "deploy/x", rs[0].Name)
	ev := f.Events()
	require.Contains(t, ev, workload.NameKFP, "the tier had started ahead")
	assert.Equal(t, "stop", ev[len(ev)-1], "stopped before Execute returned: %v", ev)
	assert.NotContains(t, ev, "ray head", "cancelled, the tier starts nothing more")
	assert.NotContains(t, ev, "not cancelled")
	n := 0
	for _, e := range ev {
		if e == "stop" {
			n++
		}
	}
	assert.Equal(t, 1, n, "stopped once: %v", ev)
}
