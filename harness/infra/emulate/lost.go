package emulate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go/middleware"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cloud/reap"
)

// A create whose answer was lost. An emulator under load drops connections (moto: seen in CI), and so does a
// network; the SDK then sends the request again. Where the first attempt had been carried out, a create that is not
// idempotent either makes a second resource (CreateVpc, AllocateAddress, CreateKey: the first one, tagged like the
// second, is left behind for the leak scan) or is refused (InvalidSubnet.Conflict, InvalidGroup.Duplicate,
// EntityAlreadyExists, ResourceInUseException, a profile's role already added). Terraform's AWS provider meets the
// same and fails the apply. The emulated apply is the stand-in for `terraform apply` in a test run, so it repairs what
// the lost answer did, and says so: after a create during which a request was sent more than once,
//   - succeeded: what carries the run's tag, is of a type that create made, and is held by no resource of the apply is
//     the lost attempt's, and is deleted;
//   - refused: what that create made and whatever carries the run's tag that the apply does not hold are deleted, and
//     the create is made again (at most twice more).
// A create during which every request was sent once is never touched: a conflict there is the configuration's.

// sends counts, on one aws.Config, the operations called and the requests sent (the SDK's retries included).
type sends struct {
	mu             sync.Mutex
	calls, attempt int
}

// instrument returns cfg with its operations and requests counted by s.
func (s *sends) instrument(cfg aws.Config) aws.Config {
	cfg = cfg.Copy()
	next := cfg.HTTPClient
	if next == nil {
		next = awshttp.NewBuildableClient()
	}
	cfg.HTTPClient = countingClient{s: s, next: next}
	cfg.APIOptions = append(slices.Clone(cfg.APIOptions), func(st *middleware.Stack) error {
		return st.Initialize.Add(middleware.InitializeMiddlewareFunc("emulate.countCalls", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			s.mu.Lock()
			s.calls++
			s.mu.Unlock()
			return next.HandleInitialize(ctx, in)
		}), middleware.Before)
	})
	return cfg
}

// mark is the count so far; resentSince reports whether a request was sent again since mark.
type mark struct{ calls, attempts int }

func (s *sends) mark() mark {
	s.mu.Lock()
	defer s.mu.Unlock()
	return mark{s.calls, s.attempt}
}

func (s *sends) resentSince(m mark) bool {
	now := s.mark()
	return now.attempts-m.attempts > now.calls-m.calls
}

type countingClient struct {
	s    *sends
	next aws.HTTPClient
}

func (c countingClient) Do(r *http.Request) (*http.Response, error) {
	c.s.mu.Lock()
	c.s.attempt++
	c.s.mu.Unlock()
	return c.next.Do(r)
}

// createOnce runs one instance's create, repairing what a lost answer did (above).
func (a *applier) createOnce(ctx context.Context, res *Result, m mapping, i Instance, progress io.Writer) error {
	for try := 0; ; try++ {
		before, nrec := a.sends.mark(), len(res.Resources())
		err := m.create(a, ctx, i)
		if !a.sends.resentSince(before) {
			return err
		}
		made := res.Resources()[nrec:]
		if err == nil {
			types := map[string]bool{}
			for _, r := range made {
				types[r.Type] = true
			}
			strays, serr := a.strays(ctx, res, types)
			if serr != nil {
				return fmt.Errorf("a request's answer was lost and the SDK sent it again; looking for what the lost attempt created: %w", serr)
			}
			if len(strays) == 0 {
				return nil
			}
			if derr := a.remove(ctx, strays); derr != nil {
				return fmt.Errorf("a request's answer was lost and the SDK sent it again: the second %v made could not be deleted: %w", strays, derr)
			}
			say(progress, "emulated apply: %s: a request's answer was lost and the SDK sent it again; deleted what the lost attempt created: %v", i.Address, strays)
			return nil
		}
		if try == 2 {
			return fmt.Errorf("%w (tried %d times, each time with a request the SDK had to send again: the emulator drops connections)", err, try+1)
		}
		strays, serr := a.strays(ctx, res, nil)
		if serr != nil {
			return errors.Join(err, fmt.Errorf("a request's answer was lost and the SDK sent it again; looking for what the lost attempt created: %w", serr))
		}
		undo := append(slices.Clone(made), strays...)
		if derr := a.remove(ctx, undo); derr != nil {
			return errors.Join(err, fmt.Errorf("a request's answer was lost and the SDK sent it again; undoing %v: %w", undo, derr))
		}
		res.forget(nrec)
		say(progress, "emulated apply: %s: a request's answer was lost and the SDK's retry was refused (%v); deleted %v and creating it again", i.Address, err, undo)
	}
}

// strays are the resources carrying the run's tag that no resource of the apply holds (of types, when given).
func (a *applier) strays(ctx context.Context, res *Result, types map[string]bool) ([]reap.Resource, error) {
	tagged, err := a.tagged(ctx)
	if err != nil {
		return nil, err
	}
	held := map[string]bool{}
	for _, r := range res.Resources() {
		held[r.Type+" "+r.ID] = true
	}
	var out []reap.Resource
	for _, r := range tagged {
		if !held[r.Type+" "+r.ID] && (types == nil || types[r.Type]) {
			out = append(out, r)
		}
	}
	return out, nil
}

// tagged are the live resources carrying the run's tag (reap.Leaks: the Tagging API and each service the apply
// creates in, read one by one).
func (a *applier) tagged(ctx context.Context) ([]reap.Resource, error) {
	return reap.Leaks(ctx, a.cfg, a.tags[reap.TagRunID])
}

func (a *applier) remove(ctx context.Context, rs []reap.Resource) error {
	if len(rs) == 0 {
		return nil
	}
	out, err := reap.Delete(ctx, a.cfg, rs)
	if err == nil && len(out.Failed) > 0 {
		err = fmt.Errorf("not deleted: %v", out.Failed)
	}
	return err
}

// forget drops the resources recorded from n on (deleted).
func (r *Result) forget(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.created = r.created[:n]
}

func say(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format+"\n", args...)
	}
}
