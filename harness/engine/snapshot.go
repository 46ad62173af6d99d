package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/internal/digest"
)

// DeployKey names the state a deploy of e's platform leaves on a cluster the harness creates, so that a snapshot
// of it (cluster.Snapshotter) is reused only for the very same deploy: a digest of everything the deploy reads —
// the repository's helm/, workflows/ and terraform/ (the Applications, their values, the GitOps Bridge and the
// cluster's shape), every chart the Applications resolve to (directory contents, or why none), the generated
// CRDs, the harness binary itself, the deployer (argo: the Argo CD binary; nil: Helm) — and the caller's extra
// facts (the environment, cluster options). Any change to one of them is another key.
func (e *Env) DeployKey(ctx context.Context, argo *ArgoCD, extra ...string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "deploy-key v1\nenv %s\n", e.Platform.Env)
	for _, x := range extra {
		fmt.Fprintf(h, "extra %s\n", x)
	}
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("deploy key: %w", err)
	}
	if err := digest.File(h, "harness", exe); err != nil {
		return "", fmt.Errorf("deploy key: %w", err)
	}
	if argo != nil {
		if argo.InstallManifest != "" {
			return "", fmt.Errorf("deploy key: Argo CD installed from %s into a given cluster: no snapshot", argo.InstallManifest)
		}
		if err := digest.File(h, "argocd", argo.Binary); err != nil {
			return "", fmt.Errorf("deploy key: %w", err)
		}
		if argo.HelmDir != "" { // the Helm CLI its repo server runs
			if err := digest.File(h, "helm", filepath.Join(argo.HelmDir, "helm")); err != nil && !os.IsNotExist(err) {
				return "", fmt.Errorf("deploy key: %w", err)
			}
		}
		if argo.CRDsDir != "" {
			if err := hashTree(h, argo.CRDsDir); err != nil && !os.IsNotExist(err) {
				return "", fmt.Errorf("deploy key: %w", err)
			}
		}
	} else {
		fmt.Fprintln(h, "helm")
	}
	if e.CRDsDir != "" {
		if err := hashTree(h, e.CRDsDir); err != nil && !os.IsNotExist(err) {
			return "", fmt.Errorf("deploy key: %w", err)
		}
	}
	for _, d := range []string{"helm", "workflows", "terraform"} {
		if err := hashTree(h, filepath.Join(e.Platform.Root, d)); err != nil {
			return "", fmt.Errorf("deploy key: %w", err)
		}
	}
	for _, a := range e.Platform.Apps {
		c := e.chart(ctx, a)
		fmt.Fprintf(h, "app %s %q %q\n", a.Name, c.unavailable, c.refused)
		if c.dir != "" {
			if err := hashTree(h, c.dir); err != nil {
				return "", fmt.Errorf("deploy key: chart of %s: %w", a.Name, err)
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// AdoptDeployment takes over a deploy done on the cluster this one was forked from: the workloads of the upstream
// charts of apps (the Applications that deploy had on the cluster) are recorded for the placement checks, as
// after the deploy itself. how says who deployed them ("synced by Argo CD").
func (e *Env) AdoptDeployment(ctx context.Context, apps []string, how string) {
	on := map[string]bool{}
	for _, a := range apps {
		on[a] = true
	}
	e.recordSynced(ctx, func(app string) bool { return on[app] }, how)
}

// hashTree writes dir's files to h (digest.Tree); Terraform's working state (.terraform, *.tfstate) is left out:
// a deploy does not read it.
func hashTree(h hash.Hash, dir string) error {
	fmt.Fprintf(h, "tree %s\n", filepath.Base(dir))
	return digest.Tree(h, dir, func(d fs.DirEntry) bool {
		return (d.IsDir() && d.Name() == ".terraform") || (!d.IsDir() && strings.Contains(d.Name(), ".tfstate"))
	})
}
