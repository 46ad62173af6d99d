package argocd

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/internal/proc"
)

// GitRepo is a snapshot of the repository under test served over Git's smart HTTP protocol on 127.0.0.1 (git
// http-backend through net/http/cgi), as Argo CD's repo server fetches from any Git host.
type GitRepo struct {
	// URL is the repository's clone URL; Revision the snapshot commit.
	URL, Revision string
	srv           *http.Server
}

// ServeGit commits the directories dirs of root (the working tree as it is: uncommitted changes included) into a
// fresh repository under dir and serves it until Close.
func ServeGit(ctx context.Context, root string, dirs []string, dir string) (*GitRepo, error) {
	git, err := exec.LookPath("git")
	if err != nil {
		return nil, fmt.Errorf("git is needed to serve the repository to Argo CD: %w", err)
	}
	backend, err := httpBackend(ctx, git)
	if err != nil {
		return nil, err
	}
	work := filepath.Join(dir, "work")
	for _, d := range dirs {
		if err := os.CopyFS(filepath.Join(work, d), os.DirFS(filepath.Join(root, d))); err != nil {
			return nil, fmt.Errorf("snapshot %s: %w", d, err)
		}
	}
	// Never ship what Git would ignore in the real repository (caches, charts pulled into helm/).
	_ = filepath.WalkDir(work, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() && (d.Name() == "__pycache__" || strings.HasPrefix(d.Name(), ".venv")) {
			_ = os.RemoveAll(p)
			return filepath.SkipDir
		}
		return nil
	})
	run := func(dir string, args ...string) (string, error) {
		var out bytes.Buffer
		cmd := proc.Command(ctx, git, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
			"GIT_AUTHOR_NAME=harness", "GIT_AUTHOR_EMAIL=harness@localhost", "GIT_COMMITTER_NAME=harness", "GIT_COMMITTER_EMAIL=harness@localhost")
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("git %s: %w\n%s", strings.Join(args, " "), err, out.String())
		}
		return strings.TrimSpace(out.String()), nil
	}
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "-A"}, {"commit", "-q", "-m", "snapshot of the working tree under test"}} {
		if _, err := run(work, args...); err != nil {
			return nil, err
		}
	}
	sha, err := run(work, "rev-parse", "HEAD")
	if err != nil {
		return nil, err
	}
	bare := filepath.Join(dir, "platform.git")
	if _, err := run(dir, "clone", "-q", "--bare", work, bare); err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	h := &cgi.Handler{Path: backend, Env: []string{"GIT_PROJECT_ROOT=" + dir, "GIT_HTTP_EXPORT_ALL=1"}}
	r := &GitRepo{URL: "http://" + l.Addr().String() + "/platform.git", Revision: sha, srv: &http.Server{Handler: h}}
	go func() { _ = r.srv.Serve(l) }()
	return r, nil
}

// Close stops serving.
func (r *GitRepo) Close() error { return r.srv.Close() }

// httpBackend finds git-http-backend beside the git the PATH has.
func httpBackend(ctx context.Context, git string) (string, error) {
	out, err := proc.Command(ctx, git, "--exec-path").Output()
	if err != nil {
		return "", fmt.Errorf("git --exec-path: %w", err)
	}
	p := filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("git-http-backend not found (%s): %w", p, err)
	}
	return p, nil
}
