package digest

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTree: a copy elsewhere digests the same; a same-size content change, a file in a subdirectory, a link's
// target and a permission change do not; skipped entries do not count.
func TestTree(t *testing.T) {
	write := func(dir, name, body string) {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
	}
	sum := func(dir string, skip func(fs.DirEntry) bool) string {
		h := sha256.New()
		require.NoError(t, Tree(h, dir, skip))
		return hex.EncodeToString(h.Sum(nil))
	}
	tree := func() string {
		dir := t.TempDir()
		write(dir, "a.tf", "abc")
		write(dir, "m/b.tf", "x")
		return dir
	}
	a, b := tree(), tree()
	base := sum(a, nil)
	assert.Equal(t, base, sum(b, nil), "a copy at another path")

	write(b, "a.tf", "abd")
	assert.NotEqual(t, base, sum(b, nil), "same size, other content")

	c := tree()
	write(c, "m/b.tf", "y")
	assert.NotEqual(t, base, sum(c, nil), "a subdirectory's file")

	d := tree()
	require.NoError(t, os.Chmod(filepath.Join(d, "a.tf"), 0o600))
	assert.NotEqual(t, base, sum(d, nil), "permissions")

	e := tree()
	require.NoError(t, os.Symlink("a.tf", filepath.Join(e, "l")))
	withLink := sum(e, nil)
	assert.NotEqual(t, base, withLink)
	require.NoError(t, os.Remove(filepath.Join(e, "l")))
	require.NoError(t, os.Symlink("m/b.tf", filepath.Join(e, "l")))
	assert.NotEqual(t, withLink, sum(e, nil), "a link's target")

	f := tree()
	write(f, "m/state.tfstate", "anything")
	skip := func(d fs.DirEntry) bool { return filepath.Ext(d.Name()) == ".tfstate" }
	assert.Equal(t, sum(a, skip), sum(f, skip), "a skipped file does not count")
	assert.NotEqual(t, sum(a, nil), sum(f, nil))
}
