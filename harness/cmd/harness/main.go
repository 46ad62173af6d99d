// Command harness starts EKS-shaped local clusters and checks the MLOps platform on them before money is spent.
//
//	harness up   [--env local] [--backend embedded|kind|existing] [--kubeconfig PATH]
//	harness down [--env local]
//	harness check [--env local] [--backend ...] [--charts-dir DIR] [--report-dir DIR] [--static]
//	harness run   [--backend ...] scenarios/x.yaml ...
//	harness apply [--env local] [--endpoint URL] [--binary tofu] [--cli-config FILE]
package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/pflag"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cluster/embedded"
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
		{"check", "deploy the platform onto an EKS-shaped cluster and run every check", runCheck},
		{"run", "run scenario files (scenarios/*.yaml), each on a fresh cluster", runScenarios},
		{"apply", "apply terraform/ to an AWS backend (moto, localstack, endpoint, aws), plan again, destroy; skips where no provider installs", runApply},
		{"eks-token", "print an ExecCredential for a real EKS cluster (kubeconfigs the nightly tier writes use it)", runEKSToken},
		{"version", "print the versions the harness is built with", runVersion},
	}
}

func main() {
	// A process started to host an embedded control plane runs it and exits here.
	embedded.RunIfControlPlane()
	os.Exit(run(context.Background(), os.Args[1:]))
}

func run(ctx context.Context, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage()
		return 0
	}
	for _, c := range commands() {
		if c.name == args[0] {
			err := c.run(ctx, args[1:])
			switch {
			case err == nil:
				return 0
			case errors.Is(err, pflag.ErrHelp):
				return 0
			case errors.Is(err, errChecksFailed):
				return 1
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
	fs.SetOutput(os.Stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	return nil
}
