package report

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/check"
)

var results = []check.Result{
	{Name: "consistency", Status: check.Passed, Message: "ok", Duration: time.Second},
	{Name: "gpu-isolation", Status: check.Failed, Message: "1 placement breaks GPU isolation", Details: []string{"pod x on system-0"}},
	{Name: "deploy/flyte", Status: check.Skipped, Message: "chart not fetched"},
}

func TestJUnitCountsSkipsApartFromPasses(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "junit.xml")
	require.NoError(t, JUnit(p, "suite", results))
	data, err := os.ReadFile(p)
	require.NoError(t, err)
	var s junitSuite
	require.NoError(t, xml.Unmarshal(data, &s))
	assert.Equal(t, 3, s.Tests)
	assert.Equal(t, 1, s.Failures)
	assert.Equal(t, 1, s.Skipped)
	assert.Equal(t, "pod x on system-0", s.Cases[1].Failure.Body)
	assert.Equal(t, "chart not fetched", s.Cases[2].Skipped.Message)
}

func TestProgressAndSummary(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	for _, r := range results {
		Progress(&b, r)
	}
	Summary(&b, results)
	out := b.String()
	assert.Contains(t, out, " ✓ consistency (1.0s): ok")
	assert.Contains(t, out, " ✗ gpu-isolation (0.0s): 1 placement breaks GPU isolation\n     - pod x on system-0")
	assert.Contains(t, out, " - deploy/flyte (0.0s): skipped: chart not fetched")
	assert.Contains(t, out, "1 passed, 1 failed, 1 skipped")
}
