// Command harness starts EKS-shaped local clusters and checks the MLOps platform on them before money is spent.
//
//	harness up   [--env local] [--backend embedded|kind|existing] [--kubeconfig PATH] [--root .] [--keep]
//	harness down [--env local]
//	harness check [--env local] [--backend ...] [--charts-dir DIR] [--report-dir DIR] [--static] [--apply]
//	harness run   [--backend ...] scenarios/x.yaml ...
//	harness rehearse [--env local] [--to 1.NN] [--charts-dir DIR]
//	harness apply [--env local] [--aws moto|localstack|endpoint|aws] [--binary tofu] [--cli-config FILE]
//
// Exit status: 0 passed, 1 failed, 2 bad usage or input, 3 incomplete (nothing failed, but part of the platform
// was not judged: upstream charts not available; `harness check --partial` accepts that), 130/143 interrupted by
// SIGINT/SIGTERM (after cleanup).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cluster/embedded"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/internal/proc"
)

// errUsage marks errors caused by a bad command line; they exit with status 2.
var errUsage = errors.New("usage")

type command struct {
	name, summary string
	run           func(ctx context.Context, args []string) error
}

func commands() []command {
	return []command{
		{"up", "start an EKS-shaped cluster and keep it running until Ctrl-C", runUp},
		{"down", "stop a cluster started by `harness up`", runDown},
		{"check", "deploy the platform onto an EKS-shaped cluster and run every check; scenario files given as arguments run beside its steps after the deploy", runCheck},
		{"run", "run scenario files (scenarios/*.yaml), each on a fresh cluster", runScenarios},
		{"runtimes", "install the Python runtimes a run uses (the workload tier's locks, moto, checkov) ahead of it; make runs it beside the Go builds", runRuntimes},
		{"charts", "charts pull: fill the chart cache with the pinned upstream charts (needs network), verifying helm/charts.lock", runCharts},
		{"diff", "rehearse a change: Argo CD syncs the base revision (--base, default the merge base with main), then the working tree over it; the transition judged (sync errors, data loss, CRD stored versions, placement) and every check; a reviewer's report (diff.md)", runDiff},
		{"rehearse", "rehearse an EKS minor upgrade (--to 1.NN): the target's API data, the real kube-apiservers in place on one etcd, node groups rolled through the Eviction API, the checks again", runRehearse},
		{"apply", "apply terraform/ to an AWS backend (moto, localstack, endpoint, aws), plan again, destroy; skips where no provider installs", runApply},
		{"reap", "delete resources whose expires-at tag has passed (--older-than D, --dry-run), or scan one run's leaks (--run-id)", runReap},
		{"eks-token", "print an ExecCredential for a real EKS cluster (kubeconfigs the nightly tier writes use it)", runEKSToken},
		{"version", "print the versions the harness is built with", runVersion},
		{"clean", "remove the run directories failed runs kept (--run-dir; a new run keeps only the newest few) and the deploy snapshots (--snapshots)", runClean},
	}
}

func main() {
	// A process started to host an embedded control plane runs it and exits here.
	embedded.RunIfControlPlane()
	ctx, stop := interruptible(context.Background())
	code := run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

// interrupted is the cause of a context cancelled by a signal.
type interrupted struct{ sig os.Signal }

func (i interrupted) Error() string { return "interrupted (" + i.sig.String() + ")" }

// interruptible returns a context cancelled, with an interrupted cause, by the first SIGINT or SIGTERM; the
// command then cleans up and exits 130 or 143. A second signal ends the process at once (children still go:
// they watch their parent).
func interruptible(parent context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-sigs:
			signal.Stop(sigs)
			cancel(interrupted{s})
		case <-done:
		}
	}()
	return ctx, func() { close(done); signal.Stop(sigs); cancel(nil) }
}

// exitInterrupted is the shell's status for a process ended by sig: 128 + the signal number.
func exitInterrupted(i interrupted) int {
	if s, ok := i.sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 130
}

func run(ctx context.Context, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage()
		return 0
	}
	// Every process the command starts is supervised: one that dies cancels ctx with its death as the cause, and
	// the command ends at once, naming it (internal/proc).
	ctx, cancel := proc.Supervise(ctx)
	defer cancel()
	for _, c := range commands() {
		if c.name == args[0] {
			err := c.run(ctx, args[1:])
			var intr interrupted
			death, died := proc.DeathOf(ctx)
			switch {
			case died && !errors.Is(err, errChecksFailed): // `harness up` returns nil when its context ends
				fmt.Fprintf(os.Stderr, "harness %s: %s\n", c.name, death.Detail())
				return 1
			case err == nil:
				return 0
			case errors.As(context.Cause(ctx), &intr):
				fmt.Fprintf(os.Stderr, "harness %s: interrupted\n", c.name)
				return exitInterrupted(intr)
			case errors.Is(err, pflag.ErrHelp):
				return 0
			case errors.Is(err, errChecksFailed):
				return 1
			case errors.Is(err, errIncomplete):
				return 3
			case errors.Is(err, errUsage):
				fmt.Fprintf(os.Stderr, "harness %s: %v\n", c.name, err)
				return 2
			default:
				fmt.Fprintf(os.Stderr, "harness %s: %v\n", c.name, err)
				return 1
			}
		}
	}
	fmt.Fprintf(os.Stderr, "harness: unknown command %q\n", args[0])
	usage()
	return 2
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: harness <command> [flags]\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(os.Stderr, "  %-8s %s\n", c.name, c.summary)
	}
}

// parse parses flags, turning flag errors into usage errors that name the flag.
func parse(fs *pflag.FlagSet, args []string) error {
	if err := parseWithArgs(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	return nil
}

// parseWithArgs parses flags and leaves the arguments that are not flags in fs.Args().
func parseWithArgs(fs *pflag.FlagSet, args []string) error {
	fs.SetOutput(os.Stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	return nil
}

func runClean(_ context.Context, args []string) error {
	var runDir, snapshots string
	fs := pflag.NewFlagSet("clean", pflag.ContinueOnError)
	fs.StringVar(&runDir, "run-dir", "", "parent directory for run state (default: the system temp dir)")
	fs.StringVar(&snapshots, "snapshots", defaultSnapshots(), "the deploy snapshots harness check took for the scenarios")
	if err := parse(fs, args); err != nil {
		return err
	}
	if store := (snapshotStore{snapshots}); !store.off() {
		if err := store.prune(0); err != nil && !os.IsNotExist(err) {
			return err
		}
		fmt.Printf("removed the deploy snapshots in %s\n", snapshots)
	}
	removed, err := embedded.PruneKept(runDir, 0)
	for _, d := range removed {
		fmt.Printf("removed %s\n", d)
	}
	if len(removed) == 0 && err == nil {
		fmt.Println("no kept run directories")
	}
	return err
}
