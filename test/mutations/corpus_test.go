package mutations

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/check"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/engine"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
)

func root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// TestCorpusStaticPhase runs every case's static phase (no cluster; what most mistakes need): every case
// applies to the repository as it is, no harmless change fails, and the mistakes the static verdicts catch stay
// caught (the floor below is the count measured when the corpus was written; `make mutations` runs the cluster
// phase too and prints the whole table).
func TestCorpusStaticPhase(t *testing.T) {
	charts := os.Getenv("HARNESS_CHARTS_DIR")
	if charts == "" {
		if _, err := os.Stat(filepath.Join(root(), "..", "shared", "charts", "PROVENANCE.md")); err == nil {
			charts = filepath.Join(root(), "..", "shared", "charts")
		}
	}
	if charts == "" {
		t.Skip("skipped: no chart directory (HARNESS_CHARTS_DIR or ../shared/charts): the values and wiring verdicts need the pinned charts")
	}
	cases, err := Load(filepath.Join(root(), "test", "mutations", "cases"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(cases), 50)
	cfg := Config{Root: root(), Env: "local", Charts: engine.Charts{Dir: charts}}
	var outs []Outcome
	for _, c := range cases {
		o := RunCase(context.Background(), cfg, c)
		require.NoError(t, o.Err, c.ID)
		switch {
		case !c.Mistake:
			assert.Empty(t, o.Failed, "harmless change %s failed (%s)", c.ID, c.Source)
		case c.Missed != "":
			// A known miss is reported as missed; once a static check catches it, the marker must go.
			if static(c) {
				assert.Empty(t, o.Failed, "known miss %s is now caught by %v: remove its missed: line", c.ID, o.Failed)
			}
		case static(c):
			// Each static check's breaking cases: a mistake it is expected to catch fails it (or another check).
			assert.NotEmpty(t, o.Failed, "mistake %s (%s) expected to fail %v without a cluster passed", c.ID, c.Source, c.Expect)
		}
		outs = append(outs, o)
	}
	s := Summarize(outs)
	t.Log(s)
	assert.GreaterOrEqual(t, s.Caught, 36, "mistakes caught without a cluster")
}

// A case whose edit no longer applies is an error naming the case file, line and case.
func TestCaseThatNoLongerAppliesIsAnError(t *testing.T) {
	c := Case{ID: "gone", File: "cases/x.yaml", Line: 3, Edits: []Edit{{File: "workflows/ray/rayjob.yaml", Old: "no such text", New: "x"}}}
	err := c.Apply(root(), t.TempDir())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "cases/x.yaml:3: case gone: edits[0]: the old text occurs 0 times in workflows/ray/rayjob.yaml")
}

// A case without a public source is refused when the corpus is loaded, naming file and line.
func TestCaseWithoutSourceIsRefused(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a.yaml"), []byte("- id: x\n  title: t\n  mistake: true\n  expect: [values]\n  edits: [{file: a, old: b, new: c}]\n"), 0o644))
	_, err := Load(dir)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "a.yaml:1: source: \"\" is not owner/repo#number")
}

// static reports whether the case expects a check that needs no cluster.
func static(c Case) bool {
	for _, e := range c.Expect {
		switch {
		case e == "consistency", e == "consistency/code", e == "values", e == "cost", e == "load", e == "karpenter/nodepools",
			strings.HasPrefix(e, "wiring/"), strings.HasPrefix(e, "policy/") && e != "policy/checkov":
			return true
		}
	}
	return false
}

// A mistake no check caught is a miss only when a check the case names gave its verdict; when they were skipped or
// never reported (a deploy that could not run), the case could not run — it is not counted as missed.
func TestMissWithoutAVerdictCouldNotRun(t *testing.T) {
	c := Case{ID: "x", Mistake: true, Expect: []string{"deploy/kserve-crd", "values"}}
	skipped := Outcome{Case: c}
	collect(&skipped, []result.Result{
		result.Skip("deploy/kserve-crd", "Argo CD could not start"),
		{Name: "deploy/platform-app", Status: result.Passed},
	})
	assert.Equal(t, "deploy/kserve-crd was skipped (Argo CD could not start); values never reported", unjudged(skipped))

	judged := Outcome{Case: c}
	collect(&judged, []result.Result{{Name: "deploy/kserve-crd", Status: result.Passed}})
	assert.Empty(t, unjudged(judged), "a check the case names passed: a real miss")

	helm := Outcome{Case: c}
	collect(&helm, []result.Result{
		result.Skip(check.NameArgoCD, "Argo CD's sync not judged (bin/argocd is not built: make argocd)"),
		{Name: "deploy/kserve-crd", Status: result.Passed}, {Name: "values", Status: result.Passed},
	})
	assert.Contains(t, unjudged(helm), "deploy/argocd was skipped", "installed with Helm for want of Argo CD: the default path never ran")

	harmless := Outcome{Case: Case{ID: "z", Expect: nil}}
	collect(&harmless, []result.Result{result.Skip(check.NameArgoCD, "not built"), {Name: "deploy/flyte", Status: result.Passed}})
	assert.NotEmpty(t, unjudged(harmless), "a harmless change passing through Helm for want of Argo CD did not pass the default path")

	prefix := Outcome{Case: Case{ID: "y", Mistake: true, Expect: []string{"deploy/"}}}
	collect(&prefix, []result.Result{result.Skip("deploy/flyte", "chart not fetched")})
	assert.Equal(t, "deploy/flyte was skipped (chart not fetched)", unjudged(prefix))
}
