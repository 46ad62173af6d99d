package embedded

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Kept run directories of exited harnesses are capped: a new run keeps the newest MaxKeptRunDirs, `harness clean`
// removes them all; a directory whose owner still runs, or that was not kept, is left alone.
func TestPruneKeptRunDirs(t *testing.T) {
	parent := t.TempDir()
	mk := func(name string, pid int, kept bool, age time.Duration) string {
		d := filepath.Join(parent, name)
		require.NoError(t, os.MkdirAll(d, 0o700))
		require.NoError(t, os.WriteFile(filepath.Join(d, ownerFile), []byte(strconv.Itoa(pid)), 0o600))
		if kept {
			f := filepath.Join(d, keptFile)
			require.NoError(t, os.WriteFile(f, nil, 0o600))
			at := time.Now().Add(-age)
			require.NoError(t, os.Chtimes(f, at, at))
		}
		return d
	}
	const gone = 1 << 22 // no such process
	old := mk("harness-a", gone, true, 3*time.Hour)
	mid := mk("harness-b", gone, true, 2*time.Hour)
	newest := mk("harness-c", gone, true, time.Hour)
	live := mk("harness-d", os.Getpid(), true, 4*time.Hour)
	notKept := mk("harness-e", gone, false, 0)

	removed, err := PruneKept(parent, 2)
	require.NoError(t, err)
	assert.Equal(t, []string{old}, removed)
	for _, d := range []string{mid, newest, live, notKept} {
		assert.DirExists(t, d)
	}
	removed, err = PruneKept(parent, 0)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{mid, newest}, removed)
	assert.DirExists(t, live, "a running harness's directory stays")
}
