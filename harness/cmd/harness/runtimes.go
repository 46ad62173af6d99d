package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spf13/pflag"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/checkov"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cloud/moto"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/pyenv"
)

// runRuntimes installs the Python runtimes a run uses, ahead of it: the workload tier's locked runtimes
// (workflows/requirements/<name>.txt into <venv-dir>/<name>, by the same pyenv.Ensure the tier calls on first use,
// so a runtime installed here is current there), moto (.venv: the karpenter step's and the tier's emulator) and
// checkov (.venv-checkov). `make test-local` and `make test` run it beside the Go builds, so that on a fresh machine
// pip's downloads overlap the compiles instead of following them. A runtime this machine cannot have (no python3,
// another Python than the lock's, no route to the package index) is reported `skipped: <reason>`, as the run's own
// step will report it; any other failure (a lock whose hashes the index contradicts) fails.
func runRuntimes(ctx context.Context, args []string) error {
	var root, venvDir string
	var jobs int
	var what []string
	fs := pflag.NewFlagSet("runtimes", pflag.ContinueOnError)
	fs.StringVar(&root, "root", ".", "repository root")
	fs.StringVar(&venvDir, "venv-dir", "", "the workload runtimes' virtualenvs (default <root>/.venv-workloads, where the workload tier looks)")
	fs.IntVar(&jobs, "jobs", 2, "installs at the same time")
	fs.StringSliceVar(&what, "what", []string{"workloads", "moto", "checkov"}, "which runtimes: workloads (every lock), moto, checkov")
	if err := parse(fs, args); err != nil {
		return err
	}
	root, err := filepath.Abs(root)
	if err != nil {
		return err
	}
	if venvDir == "" {
		venvDir = filepath.Join(root, ".venv-workloads")
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
	want := map[string]bool{}
	for _, w := range what {
		switch w {
		case "workloads", "moto", "checkov":
			want[w] = true
		default:
			return fmt.Errorf("%w: --what %q (workloads, moto, checkov)", errUsage, w)
		}
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
		all = append(all, install{"moto", timed(func(ctx context.Context) (string, error) { return moto.Install(ctx, filepath.Join(root, ".venv")) })})
	}
	if want["checkov"] {
		all = append(all, install{"checkov", timed(func(ctx context.Context) (string, error) {
			return checkov.Install(ctx, filepath.Join(root, ".venv-checkov"))
		})})
	}

	if jobs < 1 {
		jobs = 1
	}
	sem := make(chan struct{}, jobs)
	var mu sync.Mutex
	var lines, failed []string
	var wg sync.WaitGroup
	t0 := time.Now()
	for _, in := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
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
			fmt.Println(line)
			lines = append(lines, line)
			if strings.HasPrefix(line, " ✗") {
				failed = append(failed, in.name)
			}
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	fmt.Printf("runtimes: %d in %s\n", len(all), time.Since(t0).Round(100*time.Millisecond))
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
