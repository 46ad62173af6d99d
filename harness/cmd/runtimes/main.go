// Command runtimes is `harness runtimes` without the rest of the harness: it installs the Python runtimes a run
// uses (package runtimes). It builds in seconds on a fresh machine, where bin/harness takes minutes, so `make
// test-local` and `make test` run it (`go run ./harness/cmd/runtimes`) beside the harness's compile: pip's downloads
// then overlap the Go builds instead of waiting for the harness.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/runtimes"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string) int {
	var o runtimes.Options
	fs := runtimes.Flags(&o)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(os.Stderr, "runtimes:", err)
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "runtimes: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	err := runtimes.Install(ctx, o, os.Stdout)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, runtimes.ErrUnknownKind):
		fmt.Fprintln(os.Stderr, "runtimes: --what:", err)
		return 2
	case ctx.Err() != nil:
		fmt.Fprintln(os.Stderr, "runtimes: interrupted")
		return 130
	default:
		fmt.Fprintln(os.Stderr, "runtimes:", err)
		return 1
	}
}
