package workload

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// markerVar names the environment variable every process of a tier carries (inherited by everything Ray, pyflyte
// or the model server start: Ray's agents, workers and job drivers included, whatever process group or session
// they make for themselves). Stop kills every process that carries the tier's value; so does the reaper when the
// harness dies without stopping (SIGKILL included).
const markerVar = "EKS_MLOPS_WORKLOAD_RUN"

// reaperScript waits for EOF on stdin — the harness holds the write end, so EOF means the harness stopped the tier
// or died — then kills every process whose environment holds $MARK (twice, for processes started meanwhile) and
// removes the directories given as arguments.
const reaperScript = `cat >/dev/null
for round in 1 2; do
  for p in /proc/[0-9]*; do
    if tr '\0' '\n' < "$p/environ" 2>/dev/null | grep -qxF "$MARK"; then kill -9 "${p#/proc/}" 2>/dev/null; fi
  done
  sleep 1
done
rm -rf "$@"
`

// reaper is the watcher process of one tier.
type reaper struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{}
}

func newMarker() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return markerVar + "=" + hex.EncodeToString(b)
}

// startReaper starts the reaper in its own process group (a Ctrl-C to the harness's group does not reach it, so
// it outlives the harness to clean up), removing dirs at the end.
func startReaper(marker string, dirs ...string) (*reaper, error) {
	cmd := exec.Command("sh", append([]string{"-c", reaperScript, "reaper"}, dirs...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "MARK=" + marker}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start reaper: %w", err)
	}
	r := &reaper{cmd: cmd, stdin: in, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(r.done) }()
	return r, nil
}

// finish tells the reaper to do its work now and waits for it.
func (r *reaper) finish() {
	_ = r.stdin.Close()
	select {
	case <-r.done:
	case <-time.After(30 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.done
	}
}

// killMarked kills every process whose environment holds marker (KEY=VALUE) and reports how many.
func killMarked(marker string) int {
	want := []byte(marker)
	procs, _ := filepath.Glob("/proc/[0-9]*")
	n := 0
	for _, p := range procs {
		pid, err := strconv.Atoi(filepath.Base(p))
		if err != nil || pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile(filepath.Join(p, "environ"))
		if err != nil {
			continue
		}
		for _, kv := range bytes.Split(env, []byte{0}) {
			if bytes.Equal(kv, want) {
				if syscall.Kill(pid, syscall.SIGKILL) == nil {
					n++
				}
				break
			}
		}
	}
	return n
}
