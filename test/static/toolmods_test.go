package static

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/mod/modfile"
	"golang.org/x/mod/semver"
)

// sharedToolModules are the tool modules `make` builds one after the other (Makefile: KARPENTER_AFTER) so that the
// later one finds the packages they both compile already in Go's build cache. A package's compiled form depends on
// every package below it, so a single module at another version (protobuf, golang.org/x/net) makes the Kubernetes
// libraries above it compile again.
var sharedToolModules = []string{"tools/argocd", "tools/karpenter"}

// effectiveVersions reads a go.mod: each module it requires, at the version a build uses (a replace directive's
// target when one applies; another module path or a directory is named as such).
func effectiveVersions(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	f, err := modfile.Parse(path, data, nil)
	require.NoError(t, err)
	out := map[string]string{}
	for _, r := range f.Require {
		out[r.Mod.Path] = r.Mod.Version
	}
	for _, r := range f.Replace {
		v, ok := out[r.Old.Path]
		if !ok || (r.Old.Version != "" && r.Old.Version != v) {
			continue
		}
		switch {
		case r.New.Version == "":
			out[r.Old.Path] = "dir " + r.New.Path
		case r.New.Path != r.Old.Path:
			out[r.Old.Path] = r.New.Path + "@" + r.New.Version
		default:
			out[r.Old.Path] = r.New.Version
		}
	}
	return out
}

// TestToolModulesShareCompiledPackages: tools/argocd and tools/karpenter select the same version of every module both
// require, so that Karpenter's cold build reuses what Argo CD's compiled (measured on 2 cores: 691 CPU-seconds alone,
// 352 after Argo CD's). On a bump of either, the failure says which `go get` aligns them again (the higher version
// of each module, in the module that has the lower).
func TestToolModulesShareCompiledPackages(t *testing.T) {
	root := filepath.Join("..", "..")
	versions := make([]map[string]string, len(sharedToolModules))
	for i, m := range sharedToolModules {
		versions[i] = effectiveVersions(t, filepath.Join(root, m, "go.mod"))
	}
	fixes := map[string][]string{}
	common := 0
	for mod, a := range versions[0] {
		b, ok := versions[1][mod]
		if !ok {
			continue
		}
		common++
		if a == b {
			continue
		}
		if !semver.IsValid(a) || !semver.IsValid(b) {
			fixes["by hand"] = append(fixes["by hand"], fmt.Sprintf("%s: %s in %s, %s in %s", mod, a, sharedToolModules[0], b, sharedToolModules[1]))
			continue
		}
		lower, higher := sharedToolModules[0], b
		if semver.Compare(a, b) > 0 {
			lower, higher = sharedToolModules[1], a
		}
		fixes[lower] = append(fixes[lower], mod+"@"+higher)
	}
	require.Greater(t, common, 50, "the two tool modules share the Kubernetes libraries and what is below them")
	var msg []string
	for dir, mods := range fixes {
		sort.Strings(mods)
		if dir == "by hand" {
			msg = append(msg, "align by hand:\n  "+strings.Join(mods, "\n  "))
			continue
		}
		msg = append(msg, fmt.Sprintf("(cd %s && go get %s)", dir, strings.Join(mods, " ")))
	}
	sort.Strings(msg)
	assert.Empty(t, msg, "modules both tool modules require at different versions: each compiles them again on a fresh machine. Align them (then run this test again):\n%s", strings.Join(msg, "\n"))
}
