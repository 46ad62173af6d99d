package karpenteraws

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/mod/modfile"
)

// TestVersionIsWhatToolsBuilds: the version the harness reports is the one tools/karpenter pins.
func TestVersionIsWhatToolsBuilds(t *testing.T) {
	_, here, _, _ := runtime.Caller(0)
	path := filepath.Join(filepath.Dir(here), "..", "..", "..", "tools", "karpenter", "go.mod")
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	f, err := modfile.Parse(path, data, nil)
	require.NoError(t, err)
	for _, r := range f.Require {
		if r.Mod.Path == "github.com/aws/karpenter-provider-aws" {
			require.Equal(t, Version, r.Mod.Version, "%s", path)
			return
		}
	}
	t.Fatalf("%s does not require github.com/aws/karpenter-provider-aws", path)
}
