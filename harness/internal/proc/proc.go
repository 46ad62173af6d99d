// Package proc is the one place the harness starts processes. Long-running ones (the embedded control plane,
// Argo CD's components, KubeRay, Karpenter, Ray, the model server, moto) are Started from a Spec and supervised
// after controller-runtime's testing process (envtest): each runs in its own process group with its output in
// a log file, is killed if the harness dies (parent-death signal), is started with a health check and a start
// timeout (a failed start stops what it started and returns the log's last lines), and is stopped with SIGTERM
// to its group, then SIGKILL after a stop timeout; Stop is idempotent and never hangs.
//
// A process started under a supervised context (Supervise) that exits before it is asked to stop cancels that
// context with a *Death: the run ends at once, naming the process, its exit status and the last lines of its
// log, instead of its consequences (every wait on the cluster running into its deadline) being reported.
//
// Short commands (git, python, helm pulls, docker info) go through Command, which gives them the same process
// group and parent-death handling and kills the whole group when their context ends.
//
// Work beside a run's longest path (a scan, steps started ahead of their place) is started under Background: its
// processes run through nice(1) at BackgroundNice and take the CPU the run's own processes leave.
package proc

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Defaults of a Spec.
const (
	DefaultStartTimeout = time.Minute
	DefaultStopTimeout  = 10 * time.Second
	// TailLines is how many of a log's last lines errors and deaths carry.
	TailLines = 12
)

// Spec describes one long-running process.
type Spec struct {
	// Name is how errors and results name the process ("argocd application-controller").
	Name string
	// Path and Args are the command; Env its environment (nil: the harness's own); Dir its working directory.
	Path string
	Args []string
	Env  []string
	Dir  string
	// Log receives the process's stdout and stderr (created; appended to when Append is set); empty: discarded
	// (then errors and deaths carry no log lines).
	Log    string
	Append bool
	// Stdin, when set, gives the process a pipe as its standard input (Process.Stdin), closed by Stop once the
	// process has exited.
	// StopByStdin makes Stop only close it and wait (StopTimeout) for the process to finish on its own before
	// SIGKILL: for a process whose job starts at EOF (the workload tier's reaper).
	Stdin       bool
	StopByStdin bool
	// Ready, when set, is polled every PollInterval until it returns nil: the process is then started. An
	// error that wraps ErrNotYet is polled again; any other error fails the start.
	Ready        func(ctx context.Context) error
	PollInterval time.Duration
	// StartTimeout bounds the wait for Ready (DefaultStartTimeout); StopTimeout the wait between SIGTERM and
	// SIGKILL (DefaultStopTimeout).
	StartTimeout time.Duration
	StopTimeout  time.Duration
	// ParentDeath is the signal the process gets when the harness dies (default SIGKILL; the embedded control
	// plane asks for SIGTERM to stop in order). Detached leaves it unset: the process outlives the harness (the
	// workload tier's reaper, whose job is to clean up after it).
	ParentDeath syscall.Signal
	Detached    bool
}

// ErrNotYet is what a Ready function wraps while the process is not ready yet.
var ErrNotYet = errors.New("not ready yet")

// Process is a started process.
type Process struct {
	spec     Spec
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	exited   chan struct{}
	exitErr  error
	stopping atomic.Bool
	stopOnce sync.Once
	stopErr  error
}

// Start starts the process and waits until it is ready. On a failed start (the command cannot start, the
// process exits before it is ready, Ready fails or the start times out, ctx ends) whatever was started is
// stopped, and the error names the process and carries the last lines of its log.
func Start(ctx context.Context, s Spec) (_ *Process, err error) {
	if s.Name == "" || s.Path == "" {
		return nil, fmt.Errorf("proc: spec needs Name and Path (got %q, %q)", s.Name, s.Path)
	}
	if s.StartTimeout <= 0 {
		s.StartTimeout = DefaultStartTimeout
	}
	if s.StopTimeout <= 0 {
		s.StopTimeout = DefaultStopTimeout
	}
	if s.PollInterval <= 0 {
		s.PollInterval = 100 * time.Millisecond
	}
	flags := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	if s.Append {
		flags = os.O_CREATE | os.O_WRONLY | os.O_APPEND
	}
	logPath := s.Log
	if logPath == "" {
		logPath = os.DevNull
	}
	logf, err := os.OpenFile(logPath, flags, 0o600)
	if err != nil {
		return nil, fmt.Errorf("start %s: log: %w", s.Name, err)
	}
	defer logf.Close()
	path, args := niced(ctx, s.Path, s.Args)
	cmd := exec.Command(path, args...)
	cmd.Env, cmd.Dir = s.Env, s.Dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = sysProcAttr(s.ParentDeath, s.Detached)
	p := &Process{spec: s, cmd: cmd, exited: make(chan struct{})}
	if s.Stdin || s.StopByStdin {
		if p.stdin, err = cmd.StdinPipe(); err != nil {
			return nil, fmt.Errorf("start %s: stdin: %w", s.Name, err)
		}
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s (%s): %w", s.Name, s.Path, err)
	}
	go func() { p.exitErr = cmd.Wait(); close(p.exited) }()
	defer func() {
		if err != nil {
			_ = p.Stop()
		}
	}()
	if err := p.waitReady(ctx); err != nil {
		return nil, err
	}
	if sup, ok := ctx.Value(supervisorKey{}).(*supervisor); ok {
		go sup.watch(p)
	}
	return p, nil
}

func (p *Process) waitReady(ctx context.Context) error {
	if p.spec.Ready == nil {
		return nil
	}
	deadline := time.NewTimer(p.spec.StartTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(p.spec.PollInterval)
	defer tick.Stop()
	var last error
	for {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		last = p.spec.Ready(rctx)
		cancel()
		if last == nil {
			return nil
		}
		if !errors.Is(last, ErrNotYet) && ctx.Err() == nil {
			return fmt.Errorf("start %s: %w\n%s", p.spec.Name, last, p.TailText())
		}
		select {
		case <-p.exited:
			return fmt.Errorf("start %s: exited before it was ready (%s):\n%s", p.spec.Name, status(p.exitErr), p.TailText())
		case <-ctx.Done():
			return fmt.Errorf("start %s: %w", p.spec.Name, context.Cause(ctx))
		case <-deadline.C:
			return fmt.Errorf("start %s: not ready within %s (%v):\n%s", p.spec.Name, p.spec.StartTimeout, last, p.TailText())
		case <-tick.C:
		}
	}
}

// Stop stops the process: SIGTERM to its process group, SIGKILL to the group after the stop timeout, then the
// close of its stdin. Safe to call twice and on a process that already exited; never hangs. The error says
// when the process had to be killed, or when it had exited on its own before Stop (with its status and log).
func (p *Process) Stop() error {
	if p == nil {
		return nil
	}
	p.stopOnce.Do(func() {
		select {
		case <-p.exited:
			if !p.stopping.Load() && p.exitErr != nil {
				p.stopErr = fmt.Errorf("%s had exited (%s):\n%s", p.spec.Name, status(p.exitErr), p.TailText())
			}
			p.stopping.Store(true)
			// Its children may still hold the group.
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			if p.stdin != nil {
				_ = p.stdin.Close()
			}
			return
		default:
		}
		p.stopping.Store(true)
		pgid := p.cmd.Process.Pid
		if p.spec.StopByStdin {
			_ = p.stdin.Close()
		} else {
			_ = syscall.Kill(-pgid, syscall.SIGTERM)
		}
		timer := time.NewTimer(p.spec.StopTimeout)
		defer timer.Stop()
		select {
		case <-p.exited:
		case <-timer.C:
			p.stopErr = fmt.Errorf("%s did not stop within %s; killed", p.spec.Name, p.spec.StopTimeout)
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-p.exited
		}
		// Children that outlived the leader still carry its group id.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		// Only now: a process that watches its stdin reads EOF as its parent's death (the embedded control plane
		// then removes its run directory, which an in-place upgrade restarts on).
		if p.stdin != nil {
			_ = p.stdin.Close()
		}
	})
	return p.stopErr
}

// Name is the process's name.
func (p *Process) Name() string { return p.spec.Name }

// Pid is the process id (also its process group id).
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Log is the path of the process's log.
func (p *Process) Log() string { return p.spec.Log }

// Stdin is the write end of the process's stdin (nil unless Spec.Stdin).
func (p *Process) Stdin() io.Writer { return p.stdin }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.exited }

// Running says whether the process has not exited.
func (p *Process) Running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// ExitStatus describes how the process exited ("exit status 2", "signal: killed"); empty while it runs.
func (p *Process) ExitStatus() string {
	if p.Running() {
		return ""
	}
	return status(p.exitErr)
}

// Tail is the last n non-empty lines of the process's log (each cut at 400 characters).
func (p *Process) Tail(n int) []string {
	if p.spec.Log == "" {
		return nil
	}
	return TailFile(p.spec.Log, n)
}

// TailText is the last TailLines lines of the log, indented, for error messages.
func (p *Process) TailText() string {
	lines := p.Tail(TailLines)
	if len(lines) == 0 {
		return "    (no log lines)"
	}
	return "    " + strings.Join(lines, "\n    ")
}

func status(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// TailFile is the last n non-empty lines of the file at path (each cut at 400 characters); a file that cannot
// be read gives its error as the only line.
func TailFile(path string, n int) []string {
	data, err := os.ReadFile(path)
	if err != nil {
		return []string{err.Error()}
	}
	if len(data) > 1<<20 {
		data = data[len(data)-1<<20:]
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := strings.TrimRight(sc.Text(), " \r")
		if strings.TrimSpace(l) == "" {
			continue
		}
		if len(l) > 400 {
			l = l[:400] + " …"
		}
		lines = append(lines, l)
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines
}

func sysProcAttr(parentDeath syscall.Signal, detached bool) *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Setpgid: true}
	if !detached {
		a.Pdeathsig = syscall.SIGKILL
		if parentDeath != 0 {
			a.Pdeathsig = parentDeath
		}
	}
	return a
}

// Command is a short-lived command in its own process group, killed with the harness (parent-death signal) and,
// group and all, when ctx ends (then, after 5 s, its pipes are closed regardless). Use it for every command the
// harness runs to completion.
func Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	name, args = niced(ctx, name, args)
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = sysProcAttr(0, false)
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	return cmd
}
