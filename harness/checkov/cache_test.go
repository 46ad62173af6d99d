package checkov

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeCheckov writes a stand-in for checkov's CLI that counts its runs in a file and reports a finding on every
// file holding "bad" (checkov's JSON: passed, failed_checks with the scanned directory's relative path).
func fakeCheckov(t *testing.T) (bin string, runs func() int) {
	t.Helper()
	dir := t.TempDir()
	count := filepath.Join(dir, "runs")
	bin = filepath.Join(dir, "checkov")
	script := `#!/bin/sh
echo run >> "` + count + `"
d=$2
failed=""
for f in "$d"/*; do
  if grep -q bad "$f"; then failed='{"check_id":"CKV_X_1","check_name":"no bad","resource":"r","file_path":"/'"$(basename "$f")"'","file_line_range":[1,1]}'; fi
done
echo '{"summary":{"passed":3,"skipped":0},"results":{"failed_checks":['"$failed"']}}'
[ -z "$failed" ] || exit 1
`
	require.NoError(t, os.WriteFile(bin, []byte(script), 0o755))
	return bin, func() int {
		data, _ := os.ReadFile(count)
		return strings.Count(string(data), "run")
	}
}

func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
	}
	return dir
}

// TestScanReusesOnlyIdenticalInputs: a second scan of the same files (at another path: a copy of the repository)
// is the first one's report, said so; a changed file, another framework or no cache runs checkov again
// — and a finding the change brings is reported, never hidden by the earlier clean scan.
func TestScanReusesOnlyIdenticalInputs(t *testing.T) {
	t.Setenv(EnvCache, t.TempDir())
	bin, runs := fakeCheckov(t)
	ctx := context.Background()
	files := map[string]string{"main.tf": "good", "vars.tf": "fine"}

	first, err := Scan(ctx, bin, tree(t, files), "terraform")
	require.NoError(t, err)
	assert.Equal(t, 1, runs())
	assert.True(t, first.From.IsZero(), "a fresh scan")
	assert.Equal(t, 3, first.Passed)

	again, err := Scan(ctx, bin, tree(t, files), "terraform")
	require.NoError(t, err)
	assert.Equal(t, 1, runs(), "identical files elsewhere: not scanned again")
	assert.False(t, again.From.IsZero(), "the report says it is an earlier scan's")
	assert.Equal(t, first.Passed, again.Passed)

	_, err = Scan(ctx, bin, tree(t, files), "kubernetes")
	require.NoError(t, err)
	assert.Equal(t, 2, runs(), "another framework")

	broken, err := Scan(ctx, bin, tree(t, map[string]string{"main.tf": "bad", "vars.tf": "fine"}), "terraform")
	require.NoError(t, err)
	assert.Equal(t, 3, runs(), "a changed file")
	require.Len(t, broken.Failed, 1, "the change's finding")
	assert.Equal(t, "main.tf", broken.Failed[0].File)

	renamed, err := Scan(ctx, bin, tree(t, map[string]string{"main.tf": "good", "other.tf": "fine"}), "terraform")
	require.NoError(t, err)
	assert.Equal(t, 4, runs(), "a renamed file")
	assert.True(t, renamed.From.IsZero())

	// The broken tree's report is kept too: scanned again it still fails.
	brokenAgain, err := Scan(ctx, bin, tree(t, map[string]string{"main.tf": "bad", "vars.tf": "fine"}), "terraform")
	require.NoError(t, err)
	assert.Equal(t, 4, runs())
	assert.Equal(t, broken.Failed, brokenAgain.Failed)

	t.Setenv(EnvCache, "none")
	_, err = Scan(ctx, bin, tree(t, files), "terraform")
	require.NoError(t, err)
	assert.Equal(t, 5, runs(), EnvCache+"=none scans every time")
}

// TestScanKeyFollowsWhatCheckovReads: the key changes with content, a subdirectory's file, a symbolic link's target
// and checkov's configuration in the working directory; it does not change with the tree's own path.
func TestScanKeyFollowsWhatCheckovReads(t *testing.T) {
	bin, _ := fakeCheckov(t)
	base := map[string]string{"a.tf": "x"}
	key := func(dir string) string {
		k, err := scanKey(bin, dir, "terraform")
		require.NoError(t, err)
		return k
	}
	k0 := key(tree(t, base))
	assert.Equal(t, k0, key(tree(t, base)))

	sub := tree(t, base)
	require.NoError(t, os.MkdirAll(filepath.Join(sub, "modules", "vpc"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(sub, "modules", "vpc", "main.tf"), []byte("y"), 0o644))
	kSub := key(sub)
	assert.NotEqual(t, k0, kSub)
	require.NoError(t, os.WriteFile(filepath.Join(sub, "modules", "vpc", "main.tf"), []byte("z"), 0o644))
	assert.NotEqual(t, kSub, key(sub), "a module's file changed")

	link := tree(t, base)
	require.NoError(t, os.Symlink("a.tf", filepath.Join(link, "b.tf")))
	kLink := key(link)
	require.NoError(t, os.Remove(filepath.Join(link, "b.tf")))
	require.NoError(t, os.Symlink("c.tf", filepath.Join(link, "b.tf")))
	assert.NotEqual(t, kLink, key(link), "a link's target changed")

	wd := t.TempDir()
	t.Chdir(wd)
	dir := tree(t, base)
	before := key(dir)
	require.NoError(t, os.WriteFile(filepath.Join(wd, ".checkov.yaml"), []byte("skip-check: CKV_X_1\n"), 0o644))
	assert.NotEqual(t, before, key(dir), "checkov's configuration in the working directory")
}
