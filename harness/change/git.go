package change

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/internal/proc"
)

// git runs git in root and returns its trimmed output.
func git(ctx context.Context, root string, args ...string) (string, error) {
	var out, errOut bytes.Buffer
	cmd := proc.Command(ctx, "git", args...)
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(errOut.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

// MergeBase is the default base of a change: the merge base of HEAD with the main branch (main, else
// origin/main, else master).
func MergeBase(ctx context.Context, root string) (string, error) {
	var errs []error
	for _, b := range []string{"main", "origin/main", "master", "origin/master"} {
		rev, err := git(ctx, root, "merge-base", "HEAD", b)
		if err == nil {
			return rev, nil
		}
		errs = append(errs, err)
	}
	return "", fmt.Errorf("no merge base with the main branch (give --base REV): %w", errors.Join(errs...))
}

// Checkout writes the tree of rev (a commit of the repository at root) into dir, as `git archive` exports it,
// and returns the full commit name.
func Checkout(ctx context.Context, root, rev, dir string) (string, error) {
	sha, err := git(ctx, root, "rev-parse", "--verify", rev+"^{commit}")
	if err != nil {
		return "", fmt.Errorf("--base %s: not a commit of %s: %w", rev, root, err)
	}
	var out, errOut bytes.Buffer
	cmd := proc.Command(ctx, "git", "archive", "--format=tar", sha)
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("git archive %s: %w: %s", sha, err, strings.TrimSpace(errOut.String()))
	}
	tr := tar.NewReader(&out)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return sha, nil
		}
		if err != nil {
			return "", err
		}
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		if !strings.HasPrefix(p, filepath.Clean(dir)+string(os.PathSeparator)) {
			continue // never outside dir
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				return "", err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return "", err
			}
			f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode)&0o755|0o644)
			if err != nil {
				return "", err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return "", err
			}
		case tar.TypeSymlink:
			if err := os.Symlink(h.Linkname, p); err != nil {
				return "", err
			}
		}
	}
}
