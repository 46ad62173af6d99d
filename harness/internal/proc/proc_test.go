package proc

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func sh(t *testing.T, name, script string) Spec {
	return Spec{Name: name, Path: "sh", Args: []string{"-c", script}, Log: filepath.Join(t.TempDir(), name+".log"),
		StopTimeout: 2 * time.Second}
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

// groupGone says whether no process of group pgid is left (zombies included: they go once reaped), within 3 s.
func groupGone(pgid int) bool {
	for range 30 {
		if syscall.Kill(-pgid, 0) != nil {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

func TestStartWaitsForReadyAndStopEndsTheGroup(t *testing.T) {
	dir := t.TempDir()
	flag := filepath.Join(dir, "ready")
	s := sh(t, "server", "sleep 300 & sleep 0.3; touch "+flag+"; wait")
	s.Ready = func(context.Context) error {
		if _, err := os.Stat(flag); err != nil {
			return fmt.Errorf("%w: no %s", ErrNotYet, flag)
		}
		return nil
	}
	p, err := Start(t.Context(), s)
	require.NoError(t, err)
	assert.FileExists(t, flag)
	assert.True(t, p.Running())
	require.NoError(t, p.Stop())
	assert.False(t, p.Running())
	assert.False(t, alive(p.Pid()))
	// The child (sleep 300) went with the group: nothing of the group is left.
	assert.True(t, groupGone(p.Pid()), "process group still has members")
	require.NoError(t, p.Stop(), "Stop twice")
}

func TestFailedStartNamesTheProcessAndItsLog(t *testing.T) {
	s := sh(t, "broken", "echo 'cannot bind 127.0.0.1:1234' >&2; exit 7")
	s.Ready = func(context.Context) error { return ErrNotYet }
	_, err := Start(t.Context(), s)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "start broken: exited before it was ready (exit status 7)")
	assert.Contains(t, err.Error(), "cannot bind 127.0.0.1:1234")

	s = sh(t, "slow", "sleep 300")
	s.Ready, s.StartTimeout = func(context.Context) error { return ErrNotYet }, 300*time.Millisecond
	t0 := time.Now()
	_, err = Start(t.Context(), s)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not ready within 300ms")
	assert.Less(t, time.Since(t0), 5*time.Second)
}

func TestStopKillsWhatIgnoresSIGTERM(t *testing.T) {
	s := sh(t, "stubborn", "trap '' TERM; echo up; while :; do sleep 0.1; done")
	s.StopTimeout = 300 * time.Millisecond
	p, err := Start(t.Context(), s)
	require.NoError(t, err)
	time.Sleep(200 * time.Millisecond)
	err = p.Stop()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "did not stop within 300ms; killed")
	assert.False(t, p.Running())
}

// TestDeathCancelsTheSupervisedContext is the supervisor's breaking test: a process that exits on its own ends the
// supervised context within the 5 s the run allows, named, with its status and log; one that is stopped does not.
func TestDeathCancelsTheSupervisedContext(t *testing.T) {
	ctx, cancel := Supervise(t.Context())
	defer cancel()
	stopped, err := Start(ctx, sh(t, "stopped", "sleep 300"))
	require.NoError(t, err)
	require.NoError(t, stopped.Stop())
	victim, err := Start(ctx, sh(t, "argocd application-controller", "echo 'level=info msg=syncing'; sleep 300"))
	require.NoError(t, err)
	select {
	case <-ctx.Done():
		t.Fatal("a stopped process ended the run")
	case <-time.After(300 * time.Millisecond):
	}
	t0 := time.Now()
	require.NoError(t, syscall.Kill(victim.Pid(), syscall.SIGKILL))
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the death of a supervised process did not end the run within 5 s")
	}
	assert.Less(t, time.Since(t0), 5*time.Second)
	d, ok := DeathOf(ctx)
	require.True(t, ok, "cause: %v", context.Cause(ctx))
	assert.Equal(t, "argocd application-controller", d.Name)
	assert.Equal(t, "signal: killed", d.Status)
	assert.Contains(t, d.Detail(), "msg=syncing")
	assert.True(t, strings.HasPrefix(d.Error(), "argocd application-controller (pid "), d.Error())
	require.Error(t, victim.Stop(), "Stop reports the earlier exit")
}

func TestCommandKillsItsGroupWithTheContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	cmd := Command(ctx, "sh", "-c", "sleep 300 & wait")
	t0 := time.Now()
	err := cmd.Run()
	require.Error(t, err)
	assert.Less(t, time.Since(t0), 6*time.Second)
	assert.True(t, groupGone(cmd.Process.Pid), "process group still has members")
}

// TestStdinClosesOnlyAfterTheExit: a process that reads EOF on stdin as its parent's death (the embedded control
// plane) must not see it while it stops on SIGTERM — it would clean up as if orphaned.
func TestStdinClosesOnlyAfterTheExit(t *testing.T) {
	dir := t.TempDir()
	s := sh(t, "watcher", "trap 'sleep 0.3; [ -e "+dir+"/eof ] && echo eof-before-exit > "+dir+"/verdict || echo ok > "+dir+"/verdict; exit 0' TERM; exec 3<&0; (trap '' TERM; cat <&3 >/dev/null; touch "+dir+"/eof) & while :; do sleep 0.05; done")
	s.Stdin = true
	p, err := Start(t.Context(), s)
	require.NoError(t, err)
	time.Sleep(200 * time.Millisecond)
	require.NoError(t, p.Stop())
	got, err := os.ReadFile(filepath.Join(dir, "verdict"))
	require.NoError(t, err)
	assert.Equal(t, "ok\n", string(got))
}

// TestStopByStdinLetsTheProcessFinish: the reaper's way to stop, EOF first and no SIGTERM.
func TestStopByStdinLetsTheProcessFinish(t *testing.T) {
	dir := t.TempDir()
	s := sh(t, "reaper", "trap '' TERM; cat >/dev/null; sleep 0.2; touch "+dir+"/done")
	s.StopByStdin, s.StopTimeout = true, 5*time.Second
	p, err := Start(t.Context(), s)
	require.NoError(t, err)
	require.NoError(t, p.Stop())
	assert.FileExists(t, filepath.Join(dir, "done"))
}
