package main

import (
	"bytes"
	"context"
	"io"
	"runtime"
	"sync"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/scenario"
)

// maxParallel bounds --parallel's default: each scenario runs its own control plane (~0.4 GB) and, for some, the real
// Karpenter; more at once than this buys little on a laptop and costs memory.
const maxParallel = 4

// defaultParallel is how many scenarios run at once by default: one more than the cores, up to maxParallel. A
// scenario spends much of its time waiting for controllers (Karpenter's consolidateAfter, a roll's drain), which
// the others' work fills: on 2 cores the nine scenarios took 158 s one at a time, 119 s two and 100 s three at once.
func defaultParallel() int {
	return min(runtime.NumCPU()+1, maxParallel)
}

// outcome is one scenario's results, or the error that stopped it.
type outcome struct {
	results []result.Result
	err     error
}

// runAll runs every scenario, each on its own cluster while it holds one of sem's slots (a token sent into it: at
// most cap(sem) at a time, fewer while a caller holds some), and returns their outcomes in the scenarios' order.
// Each run writes its progress to its own writer; what reaches w is in the scenarios' order, as if they had run one
// after another: the earliest unfinished scenario's lines pass straight through, the others' are held until its
// turn. after (may be nil) gives what a scenario waits for before it takes a slot (nil: nothing).
func runAll(ctx context.Context, scenarios []*scenario.Scenario, sem chan struct{}, w io.Writer, after func(*scenario.Scenario) <-chan struct{},
	run func(context.Context, *scenario.Scenario, io.Writer) ([]result.Result, error)) []outcome {
	outs := make([]outcome, len(scenarios))
	o := newOrdered(w, len(scenarios))
	var wg sync.WaitGroup
	for i, s := range scenarios {
		var ready <-chan struct{}
		if after != nil {
			ready = after(s)
		}
		if ready == nil {
			sem <- struct{}{} // in file order
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer o.finish(i)
			if ready != nil {
				select {
				case <-ready:
				case <-ctx.Done():
					outs[i].err = context.Cause(ctx)
					return
				}
				sem <- struct{}{}
			}
			defer func() { <-sem }()
			outs[i].results, outs[i].err = run(ctx, s, o.writer(i))
		}()
	}
	wg.Wait()
	return outs
}

// ordered interleaves n concurrent writers into w in index order: writer i's output goes straight to w while every
// writer before it has finished, and is buffered until then.
type ordered struct {
	mu   sync.Mutex
	w    io.Writer
	cur  int
	bufs []bytes.Buffer
	done []bool
}

func newOrdered(w io.Writer, n int) *ordered {
	return &ordered{w: w, bufs: make([]bytes.Buffer, n), done: make([]bool, n)}
}

type orderedWriter struct {
	o *ordered
	i int
}

func (o *ordered) writer(i int) io.Writer { return orderedWriter{o, i} }

func (w orderedWriter) Write(p []byte) (int, error) {
	w.o.mu.Lock()
	defer w.o.mu.Unlock()
	if w.i == w.o.cur {
		return w.o.w.Write(p)
	}
	return w.o.bufs[w.i].Write(p)
}

// finish marks writer i done; when it was the current one, the next writers' held output is written out, up to the
// first one still running (whose output then passes straight through).
func (o *ordered) finish(i int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.done[i] = true
	for o.cur < len(o.done) && o.done[o.cur] {
		o.cur++
		if o.cur < len(o.bufs) {
			_, _ = o.w.Write(o.bufs[o.cur].Bytes())
			o.bufs[o.cur] = bytes.Buffer{}
		}
	}
}
