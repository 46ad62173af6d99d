package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/runtimes"
)

// runRuntimes installs the Python runtimes a run uses, ahead of it (package runtimes). `make test-local` and `make
// test` run the same code through the small harness-runtimes command (harness/cmd/runtimes), which builds in seconds
// on a fresh machine, beside the harness's own compile.
func runRuntimes(ctx context.Context, args []string) error {
	var o runtimes.Options
	fs := runtimes.Flags(&o)
	if err := parse(fs, args); err != nil {
		return err
	}
	err := runtimes.Install(ctx, o, os.Stdout)
	if errors.Is(err, runtimes.ErrUnknownKind) {
		return fmt.Errorf("%w: --what: %v", errUsage, err)
	}
	return err
}
