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

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
)

var results = []result.Result{
	{Name: "consistency", Status: result.Passed, Message: "ok", Duration: time.Second},
	{Name: "gpu-isolation", Status: result.Failed, Message: "1 placement breaks GPU isolation", Details: []string{"pod x on system-0"}},
	{Name: "deploy/flyte", Status: result.Skipped, Message: "chart not fetched"},
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

func TestPlacementPictureHasTitleLegendAndPodColours(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	long := "RayService/models/mlp-serve/a-long-worker-group-name/gpu"
	pl := &Placement{
		Nodes: []Node{{Name: "gpu-0", Group: "gpu", GPUs: 1}, {Name: "system-0", Group: "system"}},
		Pods: []Pod{
			{Workload: long, Node: "gpu-0", Group: "gpu", GPUs: 1},
			{Workload: "DaemonSet/kube-system/nvidia-device-plugin", Node: "gpu-0", Group: "gpu"},
			{Workload: "Deployment/flyte/flyte", Node: "system-0", Group: "system"},
			{Workload: "RayJob/ml-training/train-mlp/gpu", GPUs: 1},
		},
	}
	require.NoError(t, Markdown(dir, "harness check --env local", results, pl))
	data, err := os.ReadFile(filepath.Join(dir, "placement.svg"))
	require.NoError(t, err)
	svg := string(data)
	assert.Contains(t, svg, "harness check --env local: where the scheduler placed")
	for _, legend := range []string{"requests nvidia.com/gpu", "requests no GPU", "Pending"} {
		assert.Contains(t, svg, legend)
	}
	assert.Contains(t, svg, ">"+long+"</text>", "a label that fits is not cut")
	// The device plugin on a GPU node requests no GPU: grey, not green.
	assert.Regexp(t, `fill="#d9d9d9" stroke="#555"><title>DaemonSet/kube-system/nvidia-device-plugin`, svg)
	assert.Regexp(t, `fill="#8fd18f" stroke="#555"><title>`+long, svg)
	assert.Regexp(t, `fill="#f08f8f" stroke="#555"><title>RayJob/ml-training/train-mlp/gpu`, svg)
}
