package main

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/test/testenv"
)

// TestUnknownEnvironmentListsValidOnesAndCreatesNothing: bad input is one clear error before anything starts —
// no cluster, no results directory.
func TestUnknownEnvironmentListsValidOnesAndCreatesNothing(t *testing.T) {
	root := testenv.CopyRepo(t)
	for _, args := range [][]string{
		{"check", "--env", "nosuchenv", "--root", root},
		{"check", "--env", "nosuchenv", "--root", root, "--static"},
		{"up", "--env", "nosuchenv", "--root", root},
	} {
		stderr := captureStderr(t, func() {
			assert.Equal(t, 1, run(t.Context(), args), args)
		})
		assert.Contains(t, stderr, `environment "nosuchenv" has no tfvars file; environments: dev, local, prod`, args)
		assert.Contains(t, stderr, filepath.Join(root, "terraform", "env", "nosuchenv.tfvars"), args)
		assert.NoDirExists(t, filepath.Join(root, "test", "results"), "nothing created for %v", args)
	}
}

func TestInterruptedExitStatus(t *testing.T) {
	assert.Equal(t, 130, exitInterrupted(interrupted{syscall.SIGINT}))
	assert.Equal(t, 143, exitInterrupted(interrupted{syscall.SIGTERM}))
	ctx, cancel := context.WithCancelCause(t.Context())
	cancel(interrupted{syscall.SIGINT})
	// A command that ends because of the signal exits 130 and says "interrupted", whatever error it returned.
	stderr := captureStderr(t, func() {
		assert.Equal(t, 130, run(ctx, []string{"check", "--env", "local", "--root", testenv.Root(), "--static", "--report-dir", t.TempDir()}))
	})
	assert.Contains(t, stderr, "harness check: interrupted")
}

func captureStderr(t *testing.T, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	require.NoError(t, err)
	old := os.Stderr
	os.Stderr = w
	done := make(chan []byte)
	go func() {
		var buf []byte
		b := make([]byte, 4096)
		for {
			n, err := r.Read(b)
			buf = append(buf, b[:n]...)
			if err != nil {
				done <- buf
				return
			}
		}
	}()
	f()
	os.Stderr = old
	w.Close()
	return string(<-done)
}
