package pyenv

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func needPython(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("skipped: no python3")
	}
}

// TestStoreInstallsOncePerMachine: two clones with the same lock share one install (the second links to it and
// installs nothing); a clone whose lock changed gets an entry of its own, the other clone's stays as it was; both
// virtualenvs run their Python.
func TestStoreInstallsOncePerMachine(t *testing.T) {
	needPython(t)
	store := t.TempDir()
	t.Setenv(EnvStore, store)
	lock := filepath.Join(t.TempDir(), "rt.txt")
	require.NoError(t, os.WriteFile(lock, []byte("# no packages\n"), 0o644))
	a, b := filepath.Join(t.TempDir(), ".venv-workloads", "rt"), filepath.Join(t.TempDir(), ".venv-workloads", "rt")

	ea, err := Ensure(t.Context(), a, lock, nil)
	require.NoError(t, err)
	assert.Positive(t, ea.Installed, "the first clone installs")
	eb, err := Ensure(t.Context(), b, lock, nil)
	require.NoError(t, err)
	assert.Zero(t, eb.Installed, "the second clone installs nothing")
	ta, err := os.Readlink(a)
	require.NoError(t, err, "the clone's venv is a link into the store")
	tb, _ := os.Readlink(b)
	assert.Equal(t, ta, tb)
	assert.Equal(t, store, filepath.Dir(ta))
	for _, e := range []Env{ea, eb} {
		out, err := exec.Command(e.Bin("python"), "-c", "import sys; print(sys.prefix != sys.base_prefix)").Output()
		require.NoError(t, err)
		assert.Equal(t, "True\n", string(out), "%s is a virtualenv", e.Dir)
	}

	// b's lock changes: b gets its own entry, a keeps the old one.
	require.NoError(t, os.WriteFile(lock, []byte("# no packages, another lock\n"), 0o644))
	eb, err = Ensure(t.Context(), b, lock, nil)
	require.NoError(t, err)
	assert.Positive(t, eb.Installed)
	tb2, _ := os.Readlink(b)
	assert.NotEqual(t, ta, tb2)
	ta2, _ := os.Readlink(a)
	assert.Equal(t, ta, ta2)
	assert.FileExists(t, filepath.Join(ta, ".lock-sha256"))

	// A clone's own virtualenv of an older lock (from before the store) is replaced by the link.
	c := filepath.Join(t.TempDir(), "rt")
	require.NoError(t, os.MkdirAll(filepath.Join(c, "bin"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(c, ".lock-sha256"), []byte("an older lock\n"), 0o644))
	ec, err := Ensure(t.Context(), c, lock, nil)
	require.NoError(t, err)
	assert.Zero(t, ec.Installed)
	tc, err := os.Readlink(c)
	require.NoError(t, err)
	assert.Equal(t, tb2, tc)
}

// TestStoreKeepsNoHalfInstall: an install that fails leaves neither an entry nor a link, and the next run installs.
func TestStoreKeepsNoHalfInstall(t *testing.T) {
	needPython(t)
	store := t.TempDir()
	t.Setenv(EnvStore, store)
	venv := filepath.Join(t.TempDir(), "rt")
	ready := func(dir string) bool { _, err := os.Stat(filepath.Join(dir, "done")); return err == nil }
	boom := errors.New("pip: hash mismatch")
	k, err := Key(t.Context(), "rt", []byte("lock"))
	require.NoError(t, err)
	key := func() (string, error) { return k, nil }
	_, _, err = Shared(t.Context(), venv, key, ready, func(_ context.Context, dir string) error {
		require.NoError(t, os.MkdirAll(dir, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "half"), nil, 0o644))
		return boom
	})
	require.ErrorIs(t, err, boom)
	assert.NoDirExists(t, filepath.Join(store, k))
	assert.NoFileExists(t, venv)
	_, took, err := Shared(t.Context(), venv, key, ready, func(_ context.Context, dir string) error {
		require.NoError(t, os.MkdirAll(dir, 0o755))
		time.Sleep(10 * time.Millisecond)
		return os.WriteFile(filepath.Join(dir, "done"), nil, 0o644)
	})
	require.NoError(t, err)
	assert.Positive(t, took)
	assert.True(t, ready(venv))
}

// TestStorePrunesOnlyOldUnusedEntriesOfTheSameRuntime: a new install of a runtime removes that runtime's entries
// nobody used for two weeks; recent ones, other runtimes' and ones whose lock is held stay.
func TestStorePrunesOnlyOldUnusedEntriesOfTheSameRuntime(t *testing.T) {
	needPython(t)
	store := t.TempDir()
	t.Setenv(EnvStore, store)
	old := time.Now().Add(-15 * 24 * time.Hour)
	mk := func(name string, when time.Time) string {
		d := filepath.Join(store, name)
		require.NoError(t, os.MkdirAll(d, 0o755))
		require.NoError(t, os.Chtimes(d, when, when))
		return d
	}
	stale := mk("rt-0000000000000001", old)
	recent := mk("rt-0000000000000002", time.Now().Add(-time.Hour))
	other := mk("rt-serve-0000000000000003", old)
	held := mk("rt-0000000000000004", old)
	unlock, err := lockFile(t.Context(), held+".lock")
	require.NoError(t, err)
	defer unlock()

	key := func() (string, error) { return Key(t.Context(), "rt", []byte("new lock")) }
	_, _, err = Shared(t.Context(), filepath.Join(t.TempDir(), "rt"), key, func(dir string) bool { return dirExists(filepath.Join(dir, "bin")) },
		func(_ context.Context, dir string) error { return os.MkdirAll(filepath.Join(dir, "bin"), 0o755) })
	require.NoError(t, err)
	assert.NoDirExists(t, stale)
	assert.DirExists(t, recent)
	assert.DirExists(t, other)
	assert.DirExists(t, held)
}

func dirExists(p string) bool { fi, err := os.Stat(p); return err == nil && fi.IsDir() }

// TestNoStoreInstallsIntoTheClone: HARNESS_VENVS=none keeps the virtualenv in the clone, a directory.
func TestNoStoreInstallsIntoTheClone(t *testing.T) {
	needPython(t)
	t.Setenv(EnvStore, "none")
	lock := filepath.Join(t.TempDir(), "rt.txt")
	require.NoError(t, os.WriteFile(lock, []byte("# no packages\n"), 0o644))
	venv := filepath.Join(t.TempDir(), "rt")
	e, err := Ensure(t.Context(), venv, lock, nil)
	require.NoError(t, err)
	assert.Positive(t, e.Installed)
	fi, err := os.Lstat(venv)
	require.NoError(t, err)
	assert.True(t, fi.IsDir(), "a directory, not a link")
}

// TestStoreLinksFromManyGoroutinesAtOnce: runs of one process (parallel tests, the check and its karpenter step)
// linking the same venv at the same time all end with the link.
func TestStoreLinksFromManyGoroutinesAtOnce(t *testing.T) {
	needPython(t)
	t.Setenv(EnvStore, t.TempDir())
	ready := func(dir string) bool { return dirExists(filepath.Join(dir, "bin")) }
	key := func() (string, error) { return Key(context.Background(), "rt", []byte("lock")) }
	install := func(_ context.Context, dir string) error { return os.MkdirAll(filepath.Join(dir, "bin"), 0o755) }
	for round := range 20 {
		venv := filepath.Join(t.TempDir(), "rt")
		errs := make(chan error, 8)
		for range 8 {
			go func() { _, _, err := Shared(t.Context(), venv, key, ready, install); errs <- err }()
		}
		for range 8 {
			require.NoError(t, <-errs, "round %d", round)
		}
		assert.True(t, ready(venv))
		left, _ := filepath.Glob(venv + ".link-*")
		assert.Empty(t, left, "no temporary link left")
	}
}

// TestStoreLeavesSomeoneElsesVirtualenvAlone: a .venv the harness did not make (no marker) is neither removed nor
// installed into: with a store the entry is used instead; without one the error names it.
func TestStoreLeavesSomeoneElsesVirtualenvAlone(t *testing.T) {
	needPython(t)
	venv := filepath.Join(t.TempDir(), ".venv")
	require.NoError(t, os.MkdirAll(filepath.Join(venv, "lib"), 0o755))
	mine := filepath.Join(venv, "lib", "my-package.py")
	require.NoError(t, os.WriteFile(mine, []byte("x = 1\n"), 0o644))
	ready := func(dir string) bool { return dirExists(filepath.Join(dir, "bin", "tool")) }
	key := func() (string, error) { return Key(t.Context(), "tool", []byte("tool==1")) }
	install := func(_ context.Context, dir string) error {
		return os.MkdirAll(filepath.Join(dir, "bin", "tool"), 0o755)
	}

	store := t.TempDir()
	t.Setenv(EnvStore, store)
	dir, _, err := Shared(t.Context(), venv, key, ready, install)
	require.NoError(t, err)
	assert.Equal(t, store, filepath.Dir(dir), "the store's entry is used")
	assert.FileExists(t, mine, "the user's virtualenv is untouched")

	t.Setenv(EnvStore, "none")
	_, _, err = Shared(t.Context(), venv, key, ready, install)
	require.ErrorContains(t, err, venv+" is a virtualenv the harness did not make")
	assert.FileExists(t, mine)

	t.Setenv(EnvStore, "relative/venvs")
	_, _, err = Shared(t.Context(), venv, key, ready, install)
	require.ErrorContains(t, err, "must be an absolute path")
}

// TestPythonProbeOfACancelledRunDoesNotStick: a run cancelled while python3 was probed does not make later runs
// of the process fail.
func TestPythonProbeOfACancelledRunDoesNotStick(t *testing.T) {
	needPython(t)
	python.mu.Lock()
	python.id = ""
	python.mu.Unlock()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := Key(ctx, "rt")
	require.Error(t, err)
	k, err := Key(t.Context(), "rt")
	require.NoError(t, err)
	assert.Regexp(t, `^rt-[0-9a-f]{16}$`, k)
}
