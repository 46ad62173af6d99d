package infra

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cloud"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/report"
)

// Teardown removes what a run created, in stages, exactly once: first what the run put on the cluster that
// holds AWS resources Terraform does not know (workloads, LoadBalancer Services, PersistentVolumeClaims — their
// load balancers and EBS volumes would block or outlive `terraform destroy`), then `terraform destroy`, then the
// checks that nothing is left (the leak scan by the run's tags), then the temporary copy and the AWS backend.
// Register Run with t.Cleanup as soon as the workspace exists: cleanups run when a subtest panics or a require
// fails, a parent test's defers do not.
type Teardown struct {
	destroyName string
	destroy     func(ctx context.Context) error
	close       func() error
	cloud       cloud.Cloud
	progress    io.Writer

	mu     sync.Mutex
	before []stage
	after  []stage
	once   sync.Once
	err    error
}

type stage struct {
	name string
	fn   func(ctx context.Context) error
}

// NewTeardown tears down ws (and stops c, when not nil); progress gets one line per stage (nil discards).
func NewTeardown(ws *Workspace, c cloud.Cloud, progress io.Writer) *Teardown {
	return NewTeardownFunc("terraform destroy", func(context.Context) error { return ws.Destroy() }, ws.Close, c, progress)
}

// NewTeardownFunc is a Teardown whose destroy stage is destroy (named name) and whose last stage is closeFn (may
// be nil): the nightly's flow where Terraform cannot run (make test: the AWS side created on moto through the SDK,
// deleted the same way) goes through the same stages, leak scan included.
func NewTeardownFunc(name string, destroy func(ctx context.Context) error, closeFn func() error, c cloud.Cloud, progress io.Writer) *Teardown {
	if progress == nil {
		progress = io.Discard
	}
	if closeFn == nil {
		closeFn = func() error { return nil }
	}
	return &Teardown{destroyName: name, destroy: destroy, close: closeFn, cloud: c, progress: progress}
}

// BeforeDestroy adds a stage run before `terraform destroy` (in the order added); its error is reported and the
// teardown goes on.
func (td *Teardown) BeforeDestroy(name string, fn func(ctx context.Context) error) {
	td.mu.Lock()
	defer td.mu.Unlock()
	td.before = append(td.before, stage{name, fn})
}

// AfterDestroy adds a check run after a successful destroy (the leak scan); its error fails the teardown.
func (td *Teardown) AfterDestroy(name string, fn func(ctx context.Context) error) {
	td.mu.Lock()
	defer td.mu.Unlock()
	td.after = append(td.after, stage{name, fn})
}

// Run tears down once (later calls return the first result), on a context of its own with timeout: the run's
// context may be cancelled or past its deadline — that is when destroy matters most.
func (td *Teardown) Run(timeout time.Duration) error {
	td.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		td.mu.Lock()
		before, after := td.before, td.after
		td.mu.Unlock()
		var errs []error
		for _, s := range before {
			if err := report.Begin(td.progress, "teardown: "+s.name).End(s.fn(ctx)); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", s.name, err))
			}
		}
		destroyErr := report.Begin(td.progress, "teardown: "+td.destroyName).End(td.destroy(ctx))
		errs = append(errs, destroyErr)
		if destroyErr == nil {
			for _, s := range after {
				if err := report.Begin(td.progress, "teardown: "+s.name).End(s.fn(ctx)); err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", s.name, err))
				}
			}
		}
		errs = append(errs, td.close())
		if td.cloud != nil {
			errs = append(errs, td.cloud.Stop(ctx))
		}
		td.err = errors.Join(errs...)
	})
	return td.err
}
