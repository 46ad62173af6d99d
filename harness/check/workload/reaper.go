package workload

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/internal/proc"
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
type reaper struct{ p *proc.Process }

func newMarker() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return markerVar + "=" + hex.EncodeToString(b)
}

// startReaper starts the reaper in its own process group (a Ctrl-C to the harness's group does not reach it) and
// detached (no parent-death signal: it outlives the harness to clean up), removing dirs at the end.
func startReaper(marker string, dirs ...string) (*reaper, error) {
	p, err := proc.Start(context.Background(), proc.Spec{Name: "workload reaper", Path: "sh",
		Args: append([]string{"-c", reaperScript, "reaper"}, dirs...),
		Env:  []string{"PATH=" + os.Getenv("PATH"), "MARK=" + marker}, Detached: true, StopByStdin: true,
		StopTimeout: 30 * time.Second})
	if err != nil {
		return nil, err
	}
	return &reaper{p: p}, nil
}

// finish tells the reaper to do its work now (EOF on its stdin) and waits for it.
func (r *reaper) finish() { _ = r.p.Stop() }

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
