package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cluster"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/scenario"
)

// besideCheck runs the scenarios `harness check` was given beside the check's own steps, each on its own cluster.
// Most scenarios start from an empty cluster and start with the check, one at a time while the check deploys (the
// Argo CD sync keeps the cores busy: measured, three scenario clusters beside it made it ~20 s slower), then
// --parallel at once; those whose first step deploys the platform wait for the check's deploy to end (and its
// snapshot, which they fork, to be taken). A scenario mostly
// waits (for Karpenter's consolidateAfter, a drain, the scheduler settling), and so do the check's steps after the
// deploy: side by side they take little more than the longer of the two. Their output is held until the check's own
// is out, then reads as `harness run`'s would. On a given cluster (where they would share the check's) they run
// after the check.
type besideCheck struct {
	set      *scenarioSet
	gate     *gate
	ctx      context.Context
	cancel   context.CancelFunc
	begun    sync.Once
	released sync.Once
	deployed chan struct{}
	held     int // scenario slots held while the check deploys
	done     chan struct{}
	err      error
}

// newBesideCheck returns nil when there are no scenarios. The scenarios run under ctx, the command's: an interrupt
// or the death of a process ends them as it ends the check.
func newBesideCheck(ctx context.Context, set *scenarioSet, w io.Writer) *besideCheck {
	if set == nil || len(set.scenarios) == 0 {
		return nil
	}
	b := &besideCheck{set: set, gate: &gate{w: w}, deployed: make(chan struct{}), done: make(chan struct{})}
	b.ctx, b.cancel = context.WithCancel(ctx)
	// Until the check's deploy ends, all slots but one are held (released with the deploy).
	b.held = max(set.parallel, 1) - 1
	set.slots = make(chan struct{}, max(set.parallel, 1))
	for range b.held {
		set.slots <- struct{}{}
	}
	set.after = func(s *scenario.Scenario) <-chan struct{} {
		if len(s.Spec.Steps) > 0 && s.Spec.Steps[0].Deploy != nil {
			return b.deployed
		}
		return nil
	}
	return b
}

// alongside says whether the scenarios may run while the check does: each on a cluster of its own (the embedded
// backend). On a given cluster they would share the check's, so they run after it.
func (b *besideCheck) alongside() bool {
	if b == nil {
		return false
	}
	be, _ := cluster.Lookup(b.set.f.backend)
	return be.Capabilities.RunDir
}

// begin starts the scenarios (once; later calls do nothing): those that deploy wait for release.
func (b *besideCheck) begin() {
	if b == nil {
		return
	}
	b.begun.Do(func() {
		go func() {
			defer close(b.done)
			b.err = b.set.run(b.ctx, b.gate)
		}()
	})
}

// release lets the scenarios that deploy start: the check's deploy has ended, its snapshot taken (or the check
// has ended without one).
func (b *besideCheck) release() {
	if b == nil {
		return
	}
	b.released.Do(func() {
		for range b.held {
			<-b.set.slots
		}
		close(b.deployed)
	})
}

// wait starts what has not started, lets the scenarios' output through and returns their verdict.
func (b *besideCheck) wait() error {
	if b == nil {
		return nil
	}
	b.release()
	b.begin()
	b.gate.open()
	<-b.done
	return b.err
}

// stop ends scenarios still running (the check returned early: an error, an interrupt) and waits until their
// clusters are stopped; their held output is let through, so that nothing they said is lost. Scenarios not
// started are not started.
func (b *besideCheck) stop() {
	if b == nil {
		return
	}
	b.cancel()
	begun := true
	b.begun.Do(func() { begun = false })
	if begun {
		<-b.done
	}
	b.gate.open()
}

// combine is the exit of a check that ran scenarios: a failure of either is a failure; a scenario that could not
// run is its error (printed when the check failed too); the check's incomplete verdict stands only when the
// scenarios passed.
func combine(w io.Writer, checkErr, scenariosErr error) error {
	switch {
	case scenariosErr == nil:
		return checkErr
	case checkErr == nil || errors.Is(checkErr, errIncomplete):
		return scenariosErr
	}
	if !errors.Is(scenariosErr, errChecksFailed) {
		fmt.Fprintf(w, "error: %v\n", scenariosErr)
	}
	return checkErr
}

// gate holds what is written to it until it is opened, then writes through.
type gate struct {
	mu     sync.Mutex
	w      io.Writer
	opened bool
	held   bytes.Buffer
}

func (g *gate) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.opened {
		return g.w.Write(p)
	}
	return g.held.Write(p)
}

func (g *gate) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.opened {
		return
	}
	g.opened = true
	_, _ = g.w.Write(g.held.Bytes())
	g.held = bytes.Buffer{}
}
