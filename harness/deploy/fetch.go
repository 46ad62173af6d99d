package deploy

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/cli"
	"helm.sh/helm/v3/pkg/registry"
)

// digestFile records, beside a cached chart, the sha256 of the archive it was unpacked from.
const digestFile = ".sha256"

// CachedChart returns the directory of chart at version in cacheDir when a pull left it there, and the sha256
// of the archive it came from; ok is false otherwise. It needs no network.
func CachedChart(cacheDir, chart, version string) (dir, digest string, ok bool) {
	dest := filepath.Join(cacheDir, chart+"-"+strings.TrimPrefix(version, "v"))
	if _, err := os.Stat(filepath.Join(dest, chart, "Chart.yaml")); err != nil {
		return "", "", false
	}
	d, err := os.ReadFile(filepath.Join(dest, digestFile))
	if err != nil || strings.TrimSpace(string(d)) == "" {
		return "", "", false // unpacked by an older harness: its archive's digest is unknown, pull it again
	}
	return filepath.Join(dest, chart), strings.TrimSpace(string(d)), true
}

// ErrDigestMismatch is returned (wrapped) when an archive's sha256 is not the lock file's.
var ErrDigestMismatch = errors.New("sha256 differs from the lock file")

// FetchChart returns the directory of chart at version from repoURL (an HTTP(S) Helm repository, or an OCI
// registry as Argo CD writes it: "ghcr.io/kserve/charts" or "oci://..."), pulling the archive with the Helm SDK
// and unpacking it into cacheDir/<chart>-<version> unless it is already there, and the archive's sha256. When
// want is not empty the archive must have that sha256 (the lock file's): a different one is an error and
// nothing is cached. A chart that cannot be fetched (no network, no such version) is an error saying so;
// nothing half-written is left in the cache.
func FetchChart(ctx context.Context, repoURL, chart, version, cacheDir, want string, timeout time.Duration) (string, string, error) {
	if dir, digest, ok := CachedChart(cacheDir, chart, version); ok {
		if want != "" && digest != want {
			return "", "", fmt.Errorf("%w: cached %s %s in %s has sha256 %s, the lock file says %s (remove it and pull again)", ErrDigestMismatch, chart, version, filepath.Dir(dir), orUnknown(digest), want)
		}
		return dir, digest, nil
	}
	dest := filepath.Join(cacheDir, chart+"-"+strings.TrimPrefix(version, "v"))
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", "", err
	}
	tmp, err := os.MkdirTemp(cacheDir, ".pull-")
	if err != nil {
		return "", "", err
	}
	// The pull owns tmp until it returns; whoever sees it return removes tmp.
	done := make(chan error, 1)
	abandoned := false
	defer func() {
		if !abandoned {
			os.RemoveAll(tmp)
		}
	}()

	settings := cli.New()
	// Keep Helm's repository cache and config out of the user's own ~/.config/helm.
	settings.RepositoryCache = filepath.Join(cacheDir, ".helm-cache")
	settings.RepositoryConfig = filepath.Join(cacheDir, ".helm-repositories.yaml")
	settings.RegistryConfig = filepath.Join(cacheDir, ".helm-registry.json")
	rc, err := registry.NewClient(registry.ClientOptWriter(io.Discard), registry.ClientOptCredentialsFile(settings.RegistryConfig))
	if err != nil {
		return "", "", err
	}
	cfg := &action.Configuration{RegistryClient: rc}
	pull := action.NewPullWithOpts(action.WithConfig(cfg))
	pull.Settings = settings
	pull.Version = version
	pull.DestDir = tmp // the archive itself: its digest is what the lock file records
	ref := chart
	switch {
	case strings.HasPrefix(repoURL, "oci://"):
		ref = strings.TrimSuffix(repoURL, "/") + "/" + chart
	case strings.HasPrefix(repoURL, "http://"), strings.HasPrefix(repoURL, "https://"):
		pull.RepoURL = repoURL
	default: // Argo CD names OCI Helm repositories without a scheme
		ref = "oci://" + strings.TrimSuffix(repoURL, "/") + "/" + chart
	}
	go func() { _, err := pull.Run(ref); done <- err }()
	abandon := func() {
		// Helm's pull cannot be cancelled; it finishes (or fails) on its own, then its directory is removed.
		abandoned = true
		go func() { <-done; os.RemoveAll(tmp) }()
	}
	select {
	case err = <-done:
	case <-time.After(timeout):
		abandon()
		return "", "", fmt.Errorf("pull %s %s from %s: no answer in %s", chart, version, repoURL, timeout)
	case <-ctx.Done():
		abandon()
		return "", "", ctx.Err()
	}
	if err != nil {
		return "", "", fmt.Errorf("pull %s %s from %s: %w", chart, version, repoURL, err)
	}
	archives, _ := filepath.Glob(filepath.Join(tmp, "*.tgz"))
	if len(archives) != 1 {
		return "", "", fmt.Errorf("pull %s %s from %s: expected one archive, got %d", chart, version, repoURL, len(archives))
	}
	data, err := os.ReadFile(archives[0])
	if err != nil {
		return "", "", err
	}
	digest := fmt.Sprintf("%x", sha256.Sum256(data))
	if want != "" && digest != want {
		return "", "", fmt.Errorf("%w: pull %s %s from %s: archive sha256 %s, the lock file says %s", ErrDigestMismatch, chart, version, repoURL, digest, want)
	}
	unpacked := filepath.Join(tmp, "unpacked")
	if err := chartutil.ExpandFile(unpacked, archives[0]); err != nil {
		return "", "", fmt.Errorf("unpack %s: %w", archives[0], err)
	}
	if _, err := os.Stat(filepath.Join(unpacked, chart, "Chart.yaml")); err != nil {
		return "", "", fmt.Errorf("pull %s %s from %s: no %s/Chart.yaml in the archive", chart, version, repoURL, chart)
	}
	if err := os.WriteFile(filepath.Join(unpacked, digestFile), []byte(digest+"\n"), 0o644); err != nil {
		return "", "", err
	}
	if err := os.Rename(unpacked, dest); err != nil {
		// Another harness pulled the same chart meanwhile: use its copy.
		if dir, got, ok := CachedChart(cacheDir, chart, version); ok && got == digest {
			return dir, got, nil
		}
		return "", "", err
	}
	return filepath.Join(dest, chart), digest, nil
}

func orUnknown(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}
