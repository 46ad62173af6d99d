// Package runtimes installs the Python runtimes a run uses, ahead of it: the workload tier's locked runtimes
// (workflows/requirements/<name>.txt into <venv-dir>/<name>, by the same pyenv.Ensure the tier calls on first use,
// so a runtime installed here is current there), moto (.venv: the karpenter step's and the tier's emulator) and
// checkov (.venv-checkov).
//
// It imports no cluster, cloud SDK or chart library on purpose: the small harness-runtimes command builds in seconds
// on a fresh machine, so that `make` starts pip's downloads beside the harness's own compile instead of after it.
// `harness runtimes` runs the same code.
package runtimes

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spf13/pflag"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/checkov"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/internal/proc"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/pyenv"
)

// MotoVersion is the moto release installed when the virtualenv lacks moto_server.
const MotoVersion = "5.2.5"

// Kinds are the runtimes Options.What may name.
var Kinds = []string{"workloads", "moto", "checkov"}

// ErrUnknownKind is an Options.What entry that is not one of Kinds.
var ErrUnknownKind = errors.New("unknown runtime")

// Options says what to install where.
type Options struct {
	Root    string   // the repository (its workflows/requirements/*.txt)
	VenvDir string   // the workload runtimes' virtualenvs (default <Root>/.venv-workloads, where the tier looks)
	Jobs    int      // installs at the same time (at least 1)
	What    []string // which of Kinds (default all)
}

// Flags is the command line of `harness runtimes` (and of harness/cmd/runtimes), filling o.
func Flags(o *Options) *pflag.FlagSet {
	fs := pflag.NewFlagSet("runtimes", pflag.ContinueOnError)
	fs.StringVar(&o.Root, "root", ".", "repository root")
	fs.StringVar(&o.VenvDir, "venv-dir", "", "the workload runtimes' virtualenvs (default <root>/.venv-workloads, where the workload tier looks)")
	fs.IntVar(&o.Jobs, "jobs", 2, "installs at the same time")
	fs.StringSliceVar(&o.What, "what", Kinds, "which runtimes: workloads (every lock), moto, checkov")
	return fs
}

// InstallMoto makes sure venv has moto's server at MotoVersion (through the machine's store of virtualenvs, as
// pyenv.Shared does it); it returns moto_server's path.
func InstallMoto(ctx context.Context, venv string) (string, error) {
	ready := func(dir string) bool { // moto's version, installed by a harness
		_, err := os.Stat(filepath.Join(dir, "moto-"+MotoVersion))
		return err == nil
	}
	key := func() (string, error) { return pyenv.Key(ctx, "moto", []byte("moto[server]=="+MotoVersion)) }
	dir, _, err := pyenv.Shared(ctx, venv, key, ready, func(ctx context.Context, dir string) error {
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
		for _, args := range [][]string{
			{"python3", "-m", "venv", dir},
			{filepath.Join(dir, "bin", "pip"), "install", "--quiet", "moto[server]==" + MotoVersion},
		} {
			var out bytes.Buffer
			cmd := proc.Command(ctx, args[0], args[1:]...)
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("%v: %w\n%s", args, err, out.String())
			}
		}
		return os.WriteFile(filepath.Join(dir, "moto-"+MotoVersion), nil, 0o644)
	})
	return filepath.Join(dir, "bin", "moto_server"), err
}

// Install installs what o names, o.Jobs at a time, writing one line per runtime to out as it ends and a last line
// with the count and the time. A runtime this machine cannot have (no python3, another Python than the lock's, no
// route to the package index) is reported `skipped: <reason>`, as the run's own step will report it; any other
// failure (a lock whose hashes the index contradicts) is in the error, which names every runtime not installed.
func Install(ctx context.Context, o Options, out io.Writer) error {
	root, err := filepath.Abs(o.Root)
	if err != nil {
		return err
	}
	venvDir := o.VenvDir
	if venvDir == "" {
		venvDir = filepath.Join(root, ".venv-workloads")
	}
	want := map[string]bool{}
	what := o.What
	if len(what) == 0 {
		what = Kinds
	}
	for _, w := range what {
		if !slices.Contains(Kinds, w) {
			return fmt.Errorf("%w %q (%s)", ErrUnknownKind, w, strings.Join(Kinds, ", "))
		}
		want[w] = true
	}
	locks, err := filepath.Glob(filepath.Join(root, "workflows", "requirements", "*.txt"))
	if err != nil {
		return err
	}
	if len(locks) == 0 {
		return fmt.Errorf("%s: no locked runtimes (workflows/requirements/*.txt)", root)
	}
	type install struct {
		name string
		do   func(context.Context) (time.Duration, error)
	}
	var all []install
	for _, lock := range locks {
		if !want["workloads"] {
			break
		}
		name := strings.TrimSuffix(filepath.Base(lock), ".txt")
		all = append(all, install{name, func(ctx context.Context) (time.Duration, error) {
			env, err := pyenv.Ensure(ctx, filepath.Join(venvDir, name), lock, nil)
			return env.Installed, err
		}})
	}
	timed := func(f func(context.Context) (string, error)) func(context.Context) (time.Duration, error) {
		return func(ctx context.Context) (time.Duration, error) {
			t0 := time.Now()
			_, err := f(ctx)
			return time.Since(t0), err
		}
	}
	if want["moto"] {
		all = append(all, install{"moto", timed(func(ctx context.Context) (string, error) { return InstallMoto(ctx, filepath.Join(root, ".venv")) })})
	}
	if want["checkov"] {
		all = append(all, install{"checkov", timed(func(ctx context.Context) (string, error) {
			return checkov.Install(ctx, filepath.Join(root, ".venv-checkov"))
		})})
	}

	sem := make(chan struct{}, max(o.Jobs, 1))
	var mu sync.Mutex
	var failed []string
	var wg sync.WaitGroup
	t0 := time.Now()
	for _, in := range all {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			took, err := in.do(ctx)
			var line string
			switch {
			case err == nil && took > time.Second:
				line = fmt.Sprintf(" ✓ %s: installed in %s", in.name, took.Round(time.Second))
			case err == nil:
				line = fmt.Sprintf(" ✓ %s: current", in.name)
			case ctx.Err() != nil:
				line = fmt.Sprintf(" ✗ %s: interrupted", in.name)
			case errors.Is(err, pyenv.ErrNoPython), errors.Is(err, pyenv.ErrWrongPython), errors.Is(err, checkov.ErrNoPython), pyenv.Unreachable(err):
				line = fmt.Sprintf(" - %s: skipped: %v", in.name, firstLine(err))
			default:
				line = fmt.Sprintf(" ✗ %s: %v", in.name, err)
			}
			mu.Lock()
			defer mu.Unlock()
			fmt.Fprintln(out, line)
			if strings.HasPrefix(line, " ✗") {
				failed = append(failed, in.name)
			}
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	fmt.Fprintf(out, "runtimes: %d in %s\n", len(all), time.Since(t0).Round(100*time.Millisecond))
	if len(failed) > 0 {
		sort.Strings(failed)
		return fmt.Errorf("runtimes not installed: %s", strings.Join(failed, ", "))
	}
	return nil
}

// firstLine is an error's first line (pip's output follows it).
func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}
