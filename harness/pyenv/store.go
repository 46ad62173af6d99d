package pyenv

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/internal/proc"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/internal/usercache"
)

// EnvStore names the machine's store of virtualenvs: a directory, or "none" for a virtualenv of its own in every
// clone (the default store is <user cache>/eks-mlops-harness/venvs).
const EnvStore = "HARNESS_VENVS"

// storeKeep is how long an entry of the store nobody linked stays once a newer entry of the same runtime is installed.
const storeKeep = 14 * 24 * time.Hour

// Store is the machine's store of virtualenvs ("" when there is none: HARNESS_VENVS=none, or no user cache).
// A runtime is installed there once per machine, by content (the lock, the Python), and every clone's virtualenv
// path (.venv-workloads/ray, .venv, .venv-checkov) is a link to its entry: a fresh clone, CI's among them, installs
// nothing it had before, and a clone at another revision gets its own entry instead of reinstalling over another's.
func Store() string { return usercache.Dir(EnvStore, "venvs") }

var python struct {
	mu sync.Mutex
	id string
}

// pythonID identifies the machine's python3 (its version and where it really is): a virtualenv is made from one
// interpreter, and an entry of the store is only for that one. Only an answer is kept: a probe cut short by a
// cancelled run does not stand for later ones.
func pythonID(ctx context.Context) (string, error) {
	python.mu.Lock()
	defer python.mu.Unlock()
	if python.id != "" {
		return python.id, nil
	}
	path, err := exec.LookPath("python3")
	if err != nil {
		return "", ErrNoPython
	}
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	out, err := proc.Command(ctx, "python3", "-c", "import sys; print(sys.version)").Output()
	if err != nil {
		if ctx.Err() != nil {
			return "", context.Cause(ctx)
		}
		return "", fmt.Errorf("python3 -c 'import sys; print(sys.version)': %w", err)
	}
	python.id = path + " " + strings.TrimSpace(string(out))
	return python.id, nil
}

// Key is a store key for the runtime name: name, then a digest of parts and the machine's python3.
func Key(ctx context.Context, name string, parts ...[]byte) (string, error) {
	id, err := pythonID(ctx)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	fmt.Fprintf(h, "venv v1\npython %s\n", id)
	for _, p := range parts {
		fmt.Fprintf(h, "part %d\n", len(p))
		h.Write(p)
	}
	return name + "-" + hex.EncodeToString(h.Sum(nil))[:16], nil
}

// marker is the file every virtualenv the harness installs holds: a directory without it (or the stamps harnesses
// before the store left: .lock-sha256, checkov-<version>) is someone else's, and is never removed.
const marker = ".harness-venv"

// ours reports whether dir is a virtualenv a harness installed.
func ours(dir string) bool {
	for _, pattern := range []string{marker, ".lock-sha256", "checkov-*"} {
		if m, _ := filepath.Glob(filepath.Join(dir, pattern)); len(m) > 0 {
			return true
		}
	}
	return false
}

// Shared makes a complete virtualenv (ready says whether a directory is one) for venv and returns the directory to
// use — venv, unless venv is a virtualenv of someone else's (see ours), which is left as it is and the store's entry
// used instead — and how long an install took (zero: none was needed). venv already complete is used as it is.
// Otherwise, with a store, the store's entry key() names (Key) is installed once per machine (install(ctx, dir) into
// the entry; concurrent runs wait for each other) and venv becomes a link to it; without a store (or with one that
// cannot be created), install runs into venv itself. install starts from a missing or stale dir.
func Shared(ctx context.Context, venv string, key func() (string, error), ready func(dir string) bool, install func(ctx context.Context, dir string) error) (string, time.Duration, error) {
	if ready(venv) {
		keepInUse(venv)
		return venv, 0, nil
	}
	foreign := false
	if fi, err := os.Lstat(venv); err == nil && fi.IsDir() && !ours(venv) {
		foreign = true
	}
	store := Store()
	if store != "" && !filepath.IsAbs(store) {
		return venv, 0, fmt.Errorf("%s=%s: the store of virtualenvs must be an absolute path", EnvStore, store)
	}
	if store != "" {
		if err := os.MkdirAll(store, 0o755); err != nil {
			store = "" // a read-only or missing home: the clone keeps its own
		}
	}
	if store == "" {
		if foreign {
			return venv, 0, fmt.Errorf("%s is a virtualenv the harness did not make and lacks what it needs: move it, or let the harness use its store (%s)", venv, EnvStore)
		}
		took, err := installLocked(ctx, venv, ready, install)
		return venv, took, err
	}
	k, err := key()
	if err != nil {
		return venv, 0, err
	}
	entry := filepath.Join(store, k)
	took, err := installLocked(ctx, entry, ready, install)
	if err != nil {
		return venv, took, err
	}
	if took > 0 {
		prune(store, k)
	}
	if foreign {
		return entry, took, nil
	}
	if err := link(entry, venv); err != nil {
		return venv, took, err
	}
	return venv, took, nil
}

// keepInUse marks the store's entry venv links to (if it does) as used now: prune leaves it.
func keepInUse(venv string) {
	if entry, err := os.Readlink(venv); err == nil {
		now := time.Now()
		_ = os.Chtimes(entry, now, now)
	}
}

// installLocked runs install into dir unless it is ready, holding dir's lock (dir + ".lock") meanwhile; an install
// that fails leaves no half-made dir.
func installLocked(ctx context.Context, dir string, ready func(string) bool, install func(context.Context, string) error) (time.Duration, error) {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return 0, err
	}
	unlock, err := lockFile(ctx, dir+".lock")
	if err != nil {
		return 0, err
	}
	defer unlock()
	now := time.Now()
	_ = os.Chtimes(dir, now, now) // the store's entries in use stay: prune keeps what was linked recently
	if ready(dir) {
		return 0, nil
	}
	t0 := time.Now()
	if err := install(ctx, dir); err != nil {
		_ = os.RemoveAll(dir)
		return 0, err
	}
	if err := os.WriteFile(filepath.Join(dir, marker), nil, 0o644); err != nil {
		return 0, err
	}
	return time.Since(t0), nil
}

// lockFile takes an exclusive lock on path, waiting for another holder but not past ctx.
func lockFile(ctx context.Context, path string) (func(), error) {
	l, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	for {
		err := syscall.Flock(int(l.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { _ = syscall.Flock(int(l.Fd()), syscall.LOCK_UN); l.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			l.Close()
			return nil, err
		}
		select {
		case <-ctx.Done():
			l.Close()
			return nil, context.Cause(ctx)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

var links atomic.Int64

// link makes venv a symbolic link to entry, replacing what is there (a stale virtualenv of a harness's, a link to an
// older entry) at once: a new link, under a name of its own, is renamed over the old path.
func link(entry, venv string) error {
	if target, err := os.Readlink(venv); err == nil && target == entry {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(venv), 0o755); err != nil {
		return err
	}
	if fi, err := os.Lstat(venv); err == nil && fi.IsDir() {
		if err := os.RemoveAll(venv); err != nil {
			return err
		}
	}
	tmp := fmt.Sprintf("%s.link-%d-%d", venv, os.Getpid(), links.Add(1))
	if err := os.Symlink(entry, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, venv); err != nil {
		_ = os.Remove(tmp)
		if target, rerr := os.Readlink(venv); rerr == nil && target == entry {
			return nil // another run linked it the same way
		}
		return err
	}
	return nil
}

// prune removes the store's other entries of key's runtime that nobody linked or installed for storeKeep and whose
// lock nobody holds: each is first renamed out of the way (under its lock), then removed; lock files stay (a run may
// be waiting on one).
func prune(store, key string) {
	name := key[:strings.LastIndex(key, "-")+1]
	entries, _ := os.ReadDir(store)
	for _, e := range entries {
		if !e.IsDir() || e.Name() == key || !strings.HasPrefix(e.Name(), name) || strings.ContainsAny(e.Name()[len(name):], "-.") {
			continue
		}
		dir := filepath.Join(store, e.Name())
		l, err := os.OpenFile(dir+".lock", os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			continue
		}
		if syscall.Flock(int(l.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			if fi, err := os.Stat(dir); err == nil && time.Since(fi.ModTime()) >= storeKeep {
				gone := fmt.Sprintf("%s.pruned-%d-%d", dir, os.Getpid(), links.Add(1))
				if os.Rename(dir, gone) == nil {
					_ = os.RemoveAll(gone)
				}
			}
			_ = syscall.Flock(int(l.Fd()), syscall.LOCK_UN)
		}
		l.Close()
	}
}
