// Package rehearse rehearses an EKS minor upgrade before it is done (`harness rehearse --env ENV --to 1.NN`):
// the static plan against the target release's own API data, the control plane upgraded in place on the same
// etcd data, node groups rolled as EKS managed node groups roll them (surge, cordon, drain through the Eviction
// API honouring PodDisruptionBudgets, remove), and every `harness check` step again on the target.
package rehearse

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/internal/proc"
)

// APIs are the group-versions and kinds a Kubernetes release serves, read from the release's own discovery
// document (api/discovery/aggregated_v2.json in k8s.io/kubernetes at that tag): no hand-kept removal list.
type APIs struct {
	// Release is the k8s.io/kubernetes version the data comes from (v1.36.3).
	Release string
	kinds   map[schema.GroupVersion]map[string]bool
}

// Serves reports whether the release serves kind in gv.
func (a *APIs) Serves(gvk schema.GroupVersionKind) bool { return a.kinds[gvk.GroupVersion()][gvk.Kind] }

// ServesGroupVersion reports whether the release serves gv at all.
func (a *APIs) ServesGroupVersion(gv schema.GroupVersion) bool { return len(a.kinds[gv]) > 0 }

// VersionsOf lists the versions of group that serve kind (sorted), for the message saying what to use instead.
func (a *APIs) VersionsOf(group, kind string) []string {
	var out []string
	for gv, ks := range a.kinds {
		if gv.Group == group && ks[kind] {
			out = append(out, gv.Version)
		}
	}
	sort.Strings(out)
	return out
}

// LoadAPIs reads a release's discovery document from the k8s.io/kubernetes module directory dir.
func LoadAPIs(dir, release string) (*APIs, error) {
	path := filepath.Join(dir, "api", "discovery", "aggregated_v2.json")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Items []struct {
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
			Versions []struct {
				Version   string `json:"version"`
				Resources []struct {
					ResponseKind struct {
						Kind string `json:"kind"`
					} `json:"responseKind"`
				} `json:"resources"`
			} `json:"versions"`
		} `json:"items"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	a := &APIs{Release: release, kinds: map[schema.GroupVersion]map[string]bool{}}
	for _, g := range doc.Items {
		for _, v := range g.Versions {
			gv := schema.GroupVersion{Group: g.Metadata.Name, Version: v.Version}
			if a.kinds[gv] == nil {
				a.kinds[gv] = map[string]bool{}
			}
			for _, r := range v.Resources {
				a.kinds[gv][r.ResponseKind.Kind] = true
			}
		}
	}
	if len(a.kinds) == 0 {
		return nil, fmt.Errorf("%s: no group-versions", path)
	}
	return a, nil
}

// ErrNoGoCommand means the go command is not on PATH: the API data cannot be downloaded.
var ErrNoGoCommand = errors.New("the go command is not on PATH (it downloads k8s.io/kubernetes for the target's API data)")

// FetchAPIs downloads k8s.io/kubernetes at the newest patch release of minor ("1.36") that the Go module proxy
// serves (about 20 MB, cached in the module cache) and reads its discovery document.
func FetchAPIs(ctx context.Context, minor string) (*APIs, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return nil, ErrNoGoCommand
	}
	run := func(args ...string) ([]byte, error) {
		cmd := proc.Command(ctx, goBin, args...)
		cmd.Dir = os.TempDir() // outside any module
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GO111MODULE=on")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("go %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
		}
		return out, nil
	}
	out, err := run("list", "-m", "-versions", "k8s.io/kubernetes")
	if err != nil {
		return nil, err
	}
	release := newestPatch(strings.Fields(string(out)), minor)
	if release == "" {
		return nil, fmt.Errorf("the Go module proxy serves no k8s.io/kubernetes v%s.x release", minor)
	}
	out, err = run("mod", "download", "-json", "k8s.io/kubernetes@"+release)
	if err != nil {
		return nil, err
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		return nil, fmt.Errorf("go mod download k8s.io/kubernetes@%s: no directory (%v)", release, err)
	}
	return LoadAPIs(mod.Dir, release)
}

// newestPatch picks the newest v<minor>.N (no pre-release) of versions.
func newestPatch(versions []string, minor string) string {
	best, bestPatch := "", -1
	for _, v := range versions {
		rest, ok := strings.CutPrefix(v, "v"+minor+".")
		if !ok {
			continue
		}
		n, err := strconv.Atoi(rest)
		if err != nil {
			continue // a pre-release
		}
		if n > bestPatch {
			best, bestPatch = v, n
		}
	}
	return best
}

// Minor parses "1.35" (or "v1.35.4") into its minor number.
func Minor(v string) (int, error) {
	v = strings.TrimPrefix(v, "v")
	parts := strings.Split(v, ".")
	if len(parts) < 2 || parts[0] != "1" {
		return 0, fmt.Errorf("version %q: want 1.NN", v)
	}
	return strconv.Atoi(parts[1])
}
