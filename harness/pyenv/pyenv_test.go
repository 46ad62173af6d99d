package pyenv

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestUnreachableTellsNetworkFromBrokenLock(t *testing.T) {
	assert.True(t, Unreachable(&InstallError{Err: errors.New("exit 1"), Output: "ERROR: Could not find a version that satisfies the requirement ray==2.41.0"}))
	assert.True(t, Unreachable(&InstallError{Err: errors.New("exit 1"), Output: "NewConnectionError: Failed to establish a new connection"}))
	assert.False(t, Unreachable(&InstallError{Err: errors.New("exit 1"), Output: "ERROR: THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE."}))
	assert.False(t, Unreachable(errors.New("open lock: no such file")))
}

// TestEnsureWaitsForAnotherInstallButNotPastTheContext: a venv locked by another run is waited for, and a
// cancelled context ends the wait.
func TestEnsureWaitsForAnotherInstallButNotPastTheContext(t *testing.T) {
	dir := t.TempDir()
	lock := filepath.Join(dir, "req.txt")
	require.NoError(t, os.WriteFile(lock, []byte("# nothing\n"), 0o644))
	venv := filepath.Join(dir, "venv")
	l, err := os.OpenFile(venv+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	require.NoError(t, err)
	defer l.Close()
	require.NoError(t, syscall.Flock(int(l.Fd()), syscall.LOCK_EX))
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("skipped: no python3")
	}
	_, err = Ensure(ctx, venv, lock, nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}
