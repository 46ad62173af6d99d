// Package digest writes files and directory trees into a hash by what they hold, not where they are: the keys of
// the harness's caches (deploy snapshots, checkov's reports) are built from it.
package digest

import (
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// File writes the file at path to h under name: its permissions, size and contents.
func File(h hash.Hash, name, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	fmt.Fprintf(h, "file %s %o %d\n", name, st.Mode().Perm(), st.Size())
	_, err = io.Copy(h, f)
	return err
}

// Tree writes every regular file (File, named by its path relative to dir) and symbolic link (by its target) under
// dir to h, in lexical order, but for the entries skip returns true for (a directory: its whole subtree). Where dir
// is does not count: a copy of the tree elsewhere writes the same.
func Tree(h hash.Hash, dir string, skip func(d fs.DirEntry) bool) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if skip != nil && path != dir && skip(d) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		switch t := d.Type(); {
		case t.IsRegular():
			return File(h, rel, path)
		case t&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "link %s %s\n", rel, target)
		}
		return nil
	})
}
