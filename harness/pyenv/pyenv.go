// Package pyenv installs a Python runtime from a lock file of the repository (pip-compile output with hashes) into
// its own virtualenv, once: the venv carries a stamp of the lock's content, so a changed lock reinstalls and an
// unchanged one costs nothing. Concurrent installs into one venv (two `harness` runs, parallel tests) wait for each
// other. pip runs with --require-hashes and --no-deps: exactly the locked files are installed, nothing resolved.
package pyenv

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// ErrNoPython is returned when no python3 is installed.
var ErrNoPython = errors.New("python3 not found")

// InstallError is a failed venv creation or pip install, with pip's last lines.
type InstallError struct {
	Command, Output string
	Err             error
}

func (e *InstallError) Error() string { return fmt.Sprintf("%s: %v\n%s", e.Command, e.Err, e.Output) }
func (e *InstallError) Unwrap() error { return e.Err }

// unreachable are pip's words for a package index it could not reach or that lacks a file.
var unreachable = []string{"NewConnectionError", "Failed to establish a new connection", "Temporary failure in name resolution",
	"ReadTimeoutError", "ConnectTimeoutError", "Could not find a version that satisfies", "No matching distribution found",
	"ProxyError", "SSLError", "Network is unreachable"}

// Unreachable reports whether err is an install that failed because the package index could not be reached (or
// does not serve a locked file): the runtime cannot be had on this machine. A hash mismatch — the lock and the
// index disagree — is not: that is a broken lock.
func Unreachable(err error) bool {
	var ie *InstallError
	if !errors.As(err, &ie) {
		return false
	}
	for _, s := range unreachable {
		if strings.Contains(ie.Output, s) {
			return true
		}
	}
	return false
}

// Env is an installed virtualenv.
type Env struct {
	// Dir is the virtualenv.
	Dir string
	// Installed is how long the install took (zero when the venv was already up to date).
	Installed time.Duration
}

// Bin is the path of an executable of the venv (python, pyflyte, ray, ...).
func (e Env) Bin(name string) string { return filepath.Join(e.Dir, "bin", name) }

// Environ is os.Environ with the venv first on PATH (so that `python` in a child, e.g. a Ray job's entrypoint, is
// the venv's) and VIRTUAL_ENV set, plus extra (KEY=VALUE, later wins).
func (e Env) Environ(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PATH=") || strings.HasPrefix(kv, "VIRTUAL_ENV=") || strings.HasPrefix(kv, "PYTHONHOME=") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "PATH="+filepath.Join(e.Dir, "bin")+string(os.PathListSeparator)+os.Getenv("PATH"), "VIRTUAL_ENV="+e.Dir)
	return append(env, extra...)
}

// Ensure makes sure venv holds exactly the packages of lock (a requirements file with hashes). progress, when not
// nil, is told before a (slow) install starts.
func Ensure(ctx context.Context, venv, lock string, progress func(string)) (Env, error) {
	env := Env{Dir: venv}
	data, err := os.ReadFile(lock)
	if err != nil {
		return env, err
	}
	sum := sha256.Sum256(data)
	stamp := filepath.Join(venv, ".lock-sha256")
	want := hex.EncodeToString(sum[:]) + "\n"
	if current(stamp, want) {
		return env, nil
	}
	if _, err := exec.LookPath("python3"); err != nil {
		return env, ErrNoPython
	}
	if err := os.MkdirAll(filepath.Dir(venv), 0o755); err != nil {
		return env, err
	}
	l, err := os.OpenFile(venv+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return env, err
	}
	defer l.Close()
	// Another run may be installing into the same venv: wait for it, but not past the context.
	for {
		err := syscall.Flock(int(l.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return env, err
		}
		select {
		case <-ctx.Done():
			return env, context.Cause(ctx)
		case <-time.After(200 * time.Millisecond):
		}
	}
	defer syscall.Flock(int(l.Fd()), syscall.LOCK_UN) //nolint:errcheck
	if current(stamp, want) {
		return env, nil
	}
	if progress != nil {
		progress(fmt.Sprintf("installing %s into %s (first use, or the lock changed)", lock, venv))
	}
	t0 := time.Now()
	// A venv of an older lock is replaced, not patched: packages the new lock dropped must not linger.
	if err := os.RemoveAll(venv); err != nil {
		return env, err
	}
	for _, args := range [][]string{
		{"python3", "-m", "venv", venv},
		{env.Bin("pip"), "install", "--quiet", "--disable-pip-version-check", "--no-input", "--require-hashes", "--no-deps", "-r", lock},
	} {
		var out bytes.Buffer
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		cmd.Stdout, cmd.Stderr = &out, &out
		// pip's build subprocesses go with it when the run is cancelled.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
		cmd.WaitDelay = 5 * time.Second
		if err := cmd.Run(); err != nil {
			_ = os.RemoveAll(venv)
			return env, &InstallError{Command: strings.Join(args, " "), Err: err, Output: tail(out.String(), 20)}
		}
	}
	env.Installed = time.Since(t0)
	return env, os.WriteFile(stamp, []byte(want), 0o644)
}

func current(stamp, want string) bool {
	got, err := os.ReadFile(stamp)
	return err == nil && string(got) == want
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
