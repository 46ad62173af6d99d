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
	"syscall"
	"time"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/internal/proc"
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
func Store() string {
	switch v := os.Getenv(EnvStore); v {
	case "none":
		return ""
	case "":
		dir, err := os.UserCacheDir()
		if err != nil {
			return ""
		}
		return filepath.Join(dir, "eks-mlops-harness", "venvs")
	default:
		abs, err := filepath.Abs(v)
		if err != nil {
			return v
		}
		return abs
	}
}

var python struct {
	once sync.Once
	id   string
	err  error
}

// pythonID identifies the machine's python3 (its version and where it really is): a virtualenv is made from one
// interpreter, and an entry of the store is only for that one.
func pythonID(ctx context.Context) (string, error) {
	python.once.Do(func() {
		path, err := exec.LookPath("python3")
		if err != nil {
			python.err = ErrNoPython
			return
		}
		if real, err := filepath.EvalSymlinks(path); err == nil {
			path = real
		}
		out, err := proc.Command(ctx, "python3", "-c", "import sys; print(sys.version)").Output()
		if err != nil {
			python.err = fmt.Errorf("python3 --version: %w", err)
			return
		}
		python.id = path + " " + strings.TrimSpace(string(out))
	})
	return python.id, python.err
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

// Shared makes venv a complete virtualenv (ready says whether a directory is one) and returns how long an install
// took (zero: none was needed). venv already complete is left as it is. Otherwise, with a store, the store's entry
// key() names (Key) is installed once per machine (install(ctx, dir) into the entry; concurrent runs wait for each other) and venv
// becomes a link to it; without a store, install runs into venv itself. install starts from a missing or stale dir.
func Shared(ctx context.Context, venv string, key func() (string, error), ready func(dir string) bool, install func(ctx context.Context, dir string) error) (time.Duration, error) {
	if ready(venv) {
		keepInUse(venv)
		return 0, nil
	}
	store := Store()
	if store == "" {
		return installLocked(ctx, venv, ready, install)
	}
	k, err := key()
	if err != nil {
		return 0, err
	}
	entry := filepath.Join(store, k)
	took, err := installLocked(ctx, entry, ready, install)
	if err != nil {
		return took, err
	}
	if err := link(entry, venv); err != nil {
		return took, err
	}
	if took > 0 {
		prune(store, k)
	}
	return took, nil
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

// link makes venv a symbolic link to entry, replacing what is there (a stale virtualenv, a link to an older entry)
// at once: a new link is renamed over the old path.
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
	tmp := fmt.Sprintf("%s.link-%d", venv, os.Getpid())
	_ = os.Remove(tmp)
	if err := os.Symlink(entry, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, venv); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}

// prune removes the store's other entries of key's runtime that nobody linked or installed for storeKeep and that
// nobody holds the lock of now.
func prune(store, key string) {
	name := key[:strings.LastIndex(key, "-")+1]
	entries, _ := os.ReadDir(store)
	for _, e := range entries {
		if !e.IsDir() || e.Name() == key || !strings.HasPrefix(e.Name(), name) || strings.Contains(e.Name()[len(name):], "-") {
			continue
		}
		dir := filepath.Join(store, e.Name())
		fi, err := os.Stat(dir)
		if err != nil || time.Since(fi.ModTime()) < storeKeep {
			continue
		}
		l, err := os.OpenFile(dir+".lock", os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			continue
		}
		if syscall.Flock(int(l.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			_ = os.RemoveAll(dir)
			_ = os.Remove(dir + ".lock")
		}
		l.Close()
	}
}
