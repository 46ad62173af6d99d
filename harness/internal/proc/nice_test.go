package proc

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// niceness runs nice(1) without arguments, which prints its own niceness, under ctx.
func niceness(t *testing.T, ctx context.Context) int {
	t.Helper()
	out, err := Command(ctx, "nice").Output()
	require.NoError(t, err)
	n, err := strconv.Atoi(strings.TrimSpace(string(out)))
	require.NoError(t, err)
	return n
}

// Work marked Background runs below the run's own (nice 10 more), both what Command runs to completion
// and what Start supervises; unmarked work runs as the harness does. The breaking case: the mark ignored, the
// scan and the workload tier's ahead work would compete with the run's longest path as equals.
func TestBackgroundWorkRunsBelowTheRun(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("skipped: reads niceness from /proc (Linux)")
	}
	if _, err := exec.LookPath("nice"); err != nil {
		t.Skip("skipped: no nice(1) on the PATH (Background work then runs as usual)")
	}
	ctx := context.Background()
	base := niceness(t, ctx)
	if base+BackgroundNice > 19 {
		t.Skipf("skipped: the test already runs at nice %d; 10 more cannot be told apart", base)
	}
	assert.Equal(t, base+BackgroundNice, niceness(t, Background(ctx)), "Command under Background")
	assert.Equal(t, base, niceness(t, ctx), "unmarked work is unchanged")

	// A supervised process: its niceness is field 19 of /proc/<pid>/stat.
	p, err := Start(Background(ctx), Spec{Name: "sleeper", Path: "sleep", Args: []string{"30"}, Log: filepath.Join(t.TempDir(), "log"),
		StartTimeout: 5 * time.Second})
	require.NoError(t, err)
	defer p.Stop()
	// nice(1) sets its niceness, then execs the program: read the program's.
	var stat []byte
	for t0 := time.Now(); !strings.Contains(string(stat), "(sleep)") && time.Since(t0) < 5*time.Second; time.Sleep(10 * time.Millisecond) {
		stat, err = os.ReadFile(filepath.Join("/proc", strconv.Itoa(p.Pid()), "stat"))
		require.NoError(t, err)
	}
	_, after, _ := strings.Cut(string(stat), ") ")
	fields := strings.Fields(after)
	require.Greater(t, len(fields), 16)
	assert.Equal(t, strconv.Itoa(base+BackgroundNice), fields[16], "Start under Background: %s", stat)
}

// Under Background a program that cannot be found fails to start with exec's error, as without it (not as a nice(1)
// that exits 127 once started).
func TestBackgroundKeepsExecsNotFound(t *testing.T) {
	err := Command(Background(context.Background()), "no-such-program-harness").Run()
	require.Error(t, err)
	assert.ErrorIs(t, err, exec.ErrNotFound)
}
