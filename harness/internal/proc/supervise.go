package proc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Death is the cause of a supervised context cancelled because a process started under it exited without being
// asked to stop.
type Death struct {
	// Name, Pid and Status say which process ended and how ("signal: killed", "exit status 1").
	Name   string
	Pid    int
	Status string
	// Log is the process's log; Tail its last lines.
	Log  string
	Tail []string
	// At is when the exit was seen.
	At time.Time
}

func (d *Death) Error() string {
	return fmt.Sprintf("%s (pid %d) exited unexpectedly: %s", d.Name, d.Pid, d.Status)
}

// Detail is the death with the last lines of the process's log, for reports.
func (d *Death) Detail() string {
	var b strings.Builder
	b.WriteString(d.Error())
	if len(d.Tail) > 0 {
		fmt.Fprintf(&b, "; last lines of %s:\n    %s", d.Log, strings.Join(d.Tail, "\n    "))
	}
	return b.String()
}

// DeathOf returns the death that cancelled ctx, if that is why ctx ended.
func DeathOf(ctx context.Context) (*Death, bool) {
	var d *Death
	if errors.As(context.Cause(ctx), &d) {
		return d, true
	}
	return nil, false
}

type supervisorKey struct{}

type supervisor struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
}

// Supervise returns a context that every process Started under it (or under a context derived from it) watches:
// the first one to exit before it is stopped cancels the context with a *Death (DeathOf). The cancel function
// ends the supervision; processes still running are not stopped by it.
func Supervise(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	s := &supervisor{cancel: cancel}
	ctx = context.WithValue(ctx, supervisorKey{}, s)
	s.ctx = ctx
	return ctx, func() { cancel(context.Canceled) }
}

func (s *supervisor) watch(p *Process) {
	select {
	case <-p.exited:
	case <-s.ctx.Done():
		return
	}
	if p.stopping.Load() {
		return
	}
	s.cancel(&Death{Name: p.spec.Name, Pid: p.cmd.Process.Pid, Status: status(p.exitErr), Log: p.spec.Log,
		Tail: p.Tail(TailLines), At: time.Now()})
}
