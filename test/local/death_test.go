package local

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/test/testenv"
)

// children are the live processes whose parent is pid, with their command lines.
func children(pid int) map[int][]string {
	out := map[int][]string{}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, st := range stats {
		data, err := os.ReadFile(st)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so read after its closing parenthesis.
		i := bytes.LastIndexByte(data, ')')
		f := strings.Fields(string(data[i+1:]))
		if len(f) < 2 || f[1] != strconv.Itoa(pid) {
			continue
		}
		cpid, _ := strconv.Atoi(filepath.Base(filepath.Dir(st)))
		cmdline, _ := os.ReadFile(filepath.Join(filepath.Dir(st), "cmdline"))
		out[cpid] = strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	}
	return out
}

// mentioning lists live processes whose command line or environment mentions dir.
func mentioning(dir string) []string {
	var out []string
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		if filepath.Base(p) == strconv.Itoa(os.Getpid()) {
			continue
		}
		for _, f := range []string{"cmdline", "environ"} {
			data, err := os.ReadFile(filepath.Join(p, f))
			if err == nil && bytes.Contains(data, []byte(dir)) {
				out = append(out, p+" "+strings.ReplaceAll(string(data[:min(len(data), 200)]), "\x00", " "))
				break
			}
		}
	}
	return out
}

// TestDeathOfASupervisedProcessEndsTheRun is the supervisor's breaking test on the real command: `harness check`
// deploying through the real Argo CD, and, once Argo CD has started syncing, the control-plane child (and,
// separately, Argo CD's application controller) is SIGKILLed. The run must end within 5 s with a first result
// naming the process and its exit status, no other failed result (the Applications it could no longer sync are
// not blamed), exit status 1, and nothing left behind: no process, no run directory.
func TestDeathOfASupervisedProcessEndsTheRun(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(testenv.Root(), "bin", "harness")
	if _, err := os.Stat(filepath.Join(testenv.Root(), "bin", "argocd")); err != nil {
		t.Fatalf("bin/argocd missing: run `make argocd` (make test builds it): %v", err)
	}
	require.FileExists(t, bin, "make build (make test builds it)")
	for _, tc := range []struct {
		name    string
		isChild func(args []string) bool
	}{
		{"control plane", func(args []string) bool { return len(args) == 1 && args[0] == bin }},
		{"argocd application-controller", func(args []string) bool { return len(args) > 1 && args[1] == "application-controller" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			runDir, reportDir := t.TempDir(), t.TempDir()
			cmd := exec.Command(bin, "check", "--env", "local", "--root", testenv.Root(), "--deploy", "argocd",
				"--run-dir", runDir, "--report-dir", reportDir, "--partial")
			cmd.Env = append(os.Environ(), "HARNESS_CHARTS_DIR="+testenv.ChartsDir(t))
			stdout, err := cmd.StdoutPipe()
			require.NoError(t, err)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			require.NoError(t, cmd.Start())
			t.Cleanup(func() { _ = cmd.Process.Kill() })
			var mu sync.Mutex
			var out strings.Builder
			syncing := make(chan struct{})
			var named time.Time // when the death's result was printed
			go func() {
				sc := bufio.NewScanner(stdout)
				once := sync.Once{}
				for sc.Scan() {
					mu.Lock()
					out.WriteString(sc.Text() + "\n")
					if named.IsZero() && strings.Contains(sc.Text(), "✗ process") {
						named = time.Now()
					}
					mu.Unlock()
					if strings.Contains(sc.Text(), "Argo CD") && strings.Contains(sc.Text(), "started in") {
						once.Do(func() { close(syncing) })
					}
				}
			}()
			text := func() string { mu.Lock(); defer mu.Unlock(); return out.String() }
			select {
			case <-syncing:
			case <-time.After(4 * time.Minute):
				t.Fatalf("Argo CD never started:\n%s\n%s", text(), stderr.String())
			}
			time.Sleep(3 * time.Second) // mid-sync
			var victim int
			for pid, args := range children(cmd.Process.Pid) {
				if tc.isChild(args) {
					victim = pid
				}
			}
			require.NotZero(t, victim, "no %s among the harness's children: %v", tc.name, children(cmd.Process.Pid))
			t0 := time.Now()
			require.NoError(t, syscall.Kill(victim, syscall.SIGKILL))
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			var werr error
			select {
			case werr = <-done:
			case <-time.After(2 * time.Minute):
				t.Fatalf("the run did not end after %s died:\n%s", tc.name, text())
			}
			took := time.Since(t0)
			mu.Lock()
			verdict := named.Sub(t0)
			mu.Unlock()
			t.Logf("%s killed: its result printed %s later, the harness exited %s later\n%s\n%s", tc.name,
				verdict.Round(10*time.Millisecond), took.Round(10*time.Millisecond), text(), stderr.String())
			require.False(t, named.IsZero(), "no result named the death")
			assert.Less(t, verdict, 5*time.Second, "the run must end, naming the death, within 5 s")
			// Cleanup after that (Argo CD, the cluster) takes well under a second on an idle machine; allow for a busy one.
			assert.Less(t, took, 20*time.Second, "the harness must exit soon after")
			var ee *exec.ExitError
			require.True(t, errors.As(werr, &ee), "exit: %v", werr)
			assert.Equal(t, 1, ee.ExitCode())

			report, err := os.ReadFile(filepath.Join(reportDir, "report.md"))
			require.NoError(t, err)
			var failed []string
			for _, l := range strings.Split(string(report), "\n") {
				if strings.Contains(l, "| ✗") {
					failed = append(failed, l)
				}
			}
			require.NotEmpty(t, failed, "no failed result:\n%s", report)
			assert.Contains(t, failed[0], "process", "the death is the first failed result")
			assert.Contains(t, failed[0], tc.name)
			assert.Contains(t, failed[0], "signal: killed")
			assert.Len(t, failed, 1, "no other result blames the death's consequences:\n%s", strings.Join(failed, "\n"))

			var left []string
			err = wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
				left = append(mentioning(runDir), entries(runDir)...)
				return len(left) == 0, nil
			})
			assert.NoError(t, err, "left behind: %v", left)
		})
	}
}
