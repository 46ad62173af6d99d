package local

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cluster/embedded"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/test/testenv"
)

// envKillableHarness turns the test binary into a stand-in harness that starts an embedded cluster under the
// given run directory and waits to be killed (see TestMain).
const envKillableHarness = "HARNESS_TEST_KILLABLE_RUN_DIR"

// killableHarness is what the stand-in harness does: start a cluster and block.
func killableHarness(dir string) {
	c, err := embedded.New(embedded.Config{Shape: testenv.MustShapeNoT("local"), RunDir: dir})
	if err != nil {
		os.Exit(3)
	}
	_ = c.Start(context.Background())
	select {}
}

// TestSIGKILLDuringStartLeavesNothing kills a harness 1-2 s into its cluster's start — the moment the control
// plane is half up — with SIGKILL (no cleanup of its own can run). Nothing may be left: no control-plane process,
// no run directory with certificates, admin key, kubeconfig or etcd data.
func TestSIGKILLDuringStartLeavesNothing(t *testing.T) {
	t.Parallel()
	for _, after := range []time.Duration{1000 * time.Millisecond, 1800 * time.Millisecond} {
		t.Run(after.String(), func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), envKillableHarness+"="+dir)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			require.NoError(t, cmd.Start())
			// Wait for the run directory, then kill at the chosen moment of the start.
			require.NoError(t, wait.PollUntilContextTimeout(t.Context(), 10*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
				m, _ := filepath.Glob(filepath.Join(dir, "harness-*"))
				return len(m) > 0, nil
			}), "run directory never appeared: %s", &out)
			time.Sleep(after)
			require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
			_ = cmd.Wait()

			var left []string
			err := wait.PollUntilContextTimeout(t.Context(), 50*time.Millisecond, 45*time.Second, true, func(context.Context) (bool, error) {
				left = append(controlPlanes(dir), entries(dir)...)
				return len(left) == 0, nil
			})
			assert.NoError(t, err, "left behind after SIGKILL: %v", left)
		})
	}
}

// TestSweepRemovesRunDirectoriesOfDeadHarnesses: a run directory whose owner process is gone is swept at the
// next start; one kept on purpose, or owned by a live process, is not.
func TestSweepRemovesRunDirectoriesOfDeadHarnesses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	mk := func(name, owner string, kept bool) string {
		d := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(d, 0o700))
		require.NoError(t, os.WriteFile(filepath.Join(d, "owner.pid"), []byte(owner), 0o600))
		require.NoError(t, os.WriteFile(filepath.Join(d, "admin.key"), []byte("secret"), 0o600))
		if kept {
			require.NoError(t, os.WriteFile(filepath.Join(d, "kept"), nil, 0o600))
		}
		return d
	}
	dead := exec.Command("true")
	require.NoError(t, dead.Run())
	deadPID := dead.ProcessState.Pid()
	stale := mk("harness-mlops-local-1", itoa(deadPID), false)
	kept := mk("harness-mlops-local-2", itoa(deadPID), true)
	live := mk("harness-mlops-local-3", itoa(os.Getpid()), false)
	removed, err := embedded.Sweep(dir)
	require.NoError(t, err)
	assert.Equal(t, []string{stale}, removed)
	assert.NoDirExists(t, stale)
	assert.DirExists(t, kept)
	assert.DirExists(t, live)
}

func itoa(i int) string { return strconv.Itoa(i) }

// controlPlanes lists live processes hosting a control plane whose run directory is under dir.
func controlPlanes(dir string) []string {
	var out []string
	procs, _ := filepath.Glob("/proc/[0-9]*/environ")
	for _, p := range procs {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		for _, kv := range bytes.Split(data, []byte{0}) {
			if bytes.HasPrefix(kv, []byte("EKS_MLOPS_HARNESS_CONTROLPLANE="+dir)) {
				out = append(out, "process "+filepath.Base(filepath.Dir(p)))
			}
		}
	}
	return out
}

func entries(dir string) []string {
	var out []string
	es, _ := os.ReadDir(dir)
	for _, e := range es {
		out = append(out, filepath.Join(dir, e.Name()))
	}
	return out
}
