package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cluster"
)

// besideCheck runs the scenarios `harness check` was given beside the check's own steps: each on its own cluster,
// started once the check's deploy has ended (and its snapshot, which the scenarios that deploy fork, is taken) or,
// without a deploy, once the check has ended. The check's steps after its deploy mostly wait (on Karpenter, the
// scheduler settling, moto and Ray), and so do the scenarios: side by side the two take little more than the longer
// of them. Their output is held until the check's own is out, then reads as `harness run`'s would.
type besideCheck struct {
	set    *scenarioSet
	gate   *gate
	ctx    context.Context
	cancel context.CancelFunc
	once   sync.Once
	done   chan struct{}
	err    error
}

// newBesideCheck returns nil when there are no scenarios. The scenarios run under ctx, the command's: an interrupt
// or the death of a process ends them as it ends the check.
func newBesideCheck(ctx context.Context, set *scenarioSet, w io.Writer) *besideCheck {
	if set == nil || len(set.scenarios) == 0 {
		return nil
	}
	b := &besideCheck{set: set, gate: &gate{w: w}, done: make(chan struct{})}
	b.ctx, b.cancel = context.WithCancel(ctx)
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

// start starts the scenarios (once; later calls do nothing).
func (b *besideCheck) start() {
	if b == nil {
		return
	}
	b.once.Do(func() {
		go func() {
			defer close(b.done)
			b.err = b.set.run(b.ctx, b.gate)
		}()
	})
}

// wait starts the scenarios if they have not started, lets their output through and returns their verdict.
func (b *besideCheck) wait() error {
	if b == nil {
		return nil
	}
	b.start()
	b.gate.open()
	<-b.done
	return b.err
}

// stop ends scenarios still running (the check returned early: an error, an interrupt) and waits until their
// clusters are stopped; their held output is let through, so that nothing they said is lost. Scenarios never
// started stay so.
func (b *besideCheck) stop() {
	if b == nil {
		return
	}
	b.cancel()
	started := true
	b.once.Do(func() { started = false })
	if started {
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
