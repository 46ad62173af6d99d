package deploy

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/cli"
	"helm.sh/helm/v3/pkg/registry"
)

// FetchChart returns the directory of chart at version from repoURL (an HTTP(S) Helm repository, or an OCI
// registry as Argo CD writes it: "ghcr.io/kserve/charts" or "oci://..."), pulling it with the Helm SDK into
// cacheDir/<chart>-<version> unless it is already there. A chart that cannot be fetched (no network, no such
// version) is an error saying so; nothing half-written is left in the cache.
func FetchChart(ctx context.Context, repoURL, chart, version, cacheDir string, timeout time.Duration) (string, error) {
	dest := filepath.Join(cacheDir, chart+"-"+strings.TrimPrefix(version, "v"))
	if _, err := os.Stat(filepath.Join(dest, chart, "Chart.yaml")); err == nil {
		return filepath.Join(dest, chart), nil
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(cacheDir, ".pull-")
	if err != nil {
		return "", err
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
		return "", err
	}
	cfg := &action.Configuration{RegistryClient: rc}
	pull := action.NewPullWithOpts(action.WithConfig(cfg))
	pull.Settings = settings
	pull.Version = version
	pull.Untar = true
	pull.UntarDir = tmp
	pull.DestDir = tmp
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
		return "", fmt.Errorf("pull %s %s from %s: no answer in %s", chart, version, repoURL, timeout)
	case <-ctx.Done():
		abandon()
		return "", ctx.Err()
	}
	if err != nil {
		return "", fmt.Errorf("pull %s %s from %s: %w", chart, version, repoURL, err)
	}
	if _, err := os.Stat(filepath.Join(tmp, chart, "Chart.yaml")); err != nil {
		return "", fmt.Errorf("pull %s %s from %s: no %s/Chart.yaml in the archive", chart, version, repoURL, chart)
	}
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return "", err
	}
	if err := os.Rename(filepath.Join(tmp, chart), filepath.Join(dest, chart)); err != nil {
		return "", err
	}
	return filepath.Join(dest, chart), nil
}
