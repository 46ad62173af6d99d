package local

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/change"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/check"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/engine"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/test/testenv"
)

// rehearsal is one change rehearsed by rehearseChange: edits of the base's copy of the repository (it starts as
// the repository is), of the change's copy (it starts as the edited base), and of the change's copy of the
// upstream charts (nil: both sides use the same charts).
type rehearsal struct {
	changeTimeout time.Duration
	base, head    func(root string)
	headCharts    func(dir string)
}

// rehearseChange runs `harness diff`'s flow on one embedded cluster: the base synced by the real Argo CD, then the
// change synced over it; it returns the review.
func rehearseChange(t *testing.T, r rehearsal) change.Review {
	t.Helper()
	base := testenv.CopyRepo(t)
	if r.base != nil {
		r.base(base)
	}
	head := t.TempDir()
	require.NoError(t, os.CopyFS(head, os.DirFS(base)))
	r.head(head)
	c, _ := testenv.MustEKS(t, testenv.MustShape(t, "local"))
	charts := engine.Charts{Dir: testenv.ChartsDir(t)}
	headCharts := charts
	if r.headCharts != nil {
		headCharts.Dir = t.TempDir()
		require.NoError(t, os.CopyFS(headCharts.Dir, os.DirFS(charts.Dir)))
		r.headCharts(headCharts.Dir)
	}
	eb := testenv.MustEnv(t, testenv.MustPlatform(t, base, "local"), c, charts, testenv.CRDsDir(t))
	eh := testenv.MustEnv(t, testenv.MustPlatform(t, head, "local"), c, headCharts, testenv.CRDsDir(t))
	karp := engine.KarpenterConfigAt(testenv.Root())
	karp.AWSBinary = "" // these judge the transition; the AWS provider's verdict: TestCheckJudgesKarpenterByTheAWSProvider
	// checkov reads the files, not the cluster: its verdict on a change is `harness check`'s (TestScenariosForkTheChecksDeploy
	// runs it on the charts; TestDiffCommandWithoutChartsIsIncomplete runs `harness diff` whole). Here it would scan
	// each change's 1,344 rendered manifests again for nothing these tests judge.
	checks := check.Except(check.Steps(), check.PhaseCRDs, check.PhaseDeploy, check.PhaseScan)
	rev, err := check.Diff(t.Context(), check.DiffRun{Base: eb, Head: eh, BaseRev: "base", HeadRev: "change", ArgoCD: argoCD(t),
		ChangeTimeout: r.changeTimeout, Karpenter: &karp, Checks: checks}, func(r result.Result) { t.Logf("%-28s %-8s %s %v", r.Name, r.Status, r.Message, r.Details) })
	require.NoError(t, err)
	for _, r := range rev.Results {
		require.False(t, strings.HasPrefix(r.Name, "base/"), "the base must sync: %s %s", r.Name, r.Message)
	}
	path, err := rev.WriteMarkdown(t.TempDir())
	require.NoError(t, err)
	t.Logf("report %s (%s)", path, rev.Took.Round(time.Second))
	return rev
}

// flytePDB is a PodDisruptionBudget a platform team adds to keep Flyte up (minAvailable 1 of its one pod).
const flytePDB = `apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: flyte-binary
  namespace: flyte
spec:
  minAvailable: 1
  selector:
    matchLabels:
      app.kubernetes.io/component: flyte-binary
`

// TestDiffJudgesATransition rehearses one change with three mistakes in three Applications, each of which syncs
// cleanly through Argo CD: the database's StatefulSet renamed (Argo CD prunes the old one and creates the new: the
// database is lost), the NVIDIA device plugin's values pointed at the system group (its pods leave the GPU
// nodes, which then advertise no GPU: gpu-capacity and consistency fail), and Flyte's memory request raised while
// a PodDisruptionBudget keeps one Flyte pod up (the chart's Deployment uses the Recreate strategy: the rollout
// takes Flyte down, and budgets do not stop rollouts).
func TestDiffJudgesATransition(t *testing.T) {
	t.Parallel()
	addPDB := func(root string) {
		require.NoError(t, os.WriteFile(filepath.Join(root, "helm/platform-config/templates/flyte-pdb.yaml"), []byte(flytePDB), 0o644))
	}
	rev := rehearseChange(t, rehearsal{base: addPDB, head: func(root string) {
		testenv.Edit(t, root, "helm/platform-config/templates/database.yaml", "kind: StatefulSet\nmetadata:\n  name: {{ $name }}\n", "kind: StatefulSet\nmetadata:\n  name: {{ $name }}-v2\n")
		testenv.Edit(t, root, "helm/platform-app/values.yaml", "      priorityClassName: system-node-critical\n      nodeSelector:\n        node-role.mlops.io/gpu: \"true\"",
			"      priorityClassName: system-node-critical\n      nodeSelector:\n        node-role.mlops.io/system: \"true\"")
		testenv.Edit(t, root, "helm/platform-app/values.yaml", "          requests:\n            cpu: 250m\n            memory: 512Mi\n          limits:\n            memory: 1Gi\n\n  # Scales GPU",
			"          requests:\n            cpu: 250m\n            memory: 768Mi\n          limits:\n            memory: 1Gi\n\n  # Scales GPU")
	}})
	rs := byName(rev.Results)
	t.Run("a renamed StatefulSet is data loss", func(t *testing.T) {
		assert.Equal(t, result.Passed, rs["deploy/platform-config"].Status, rs["deploy/platform-config"].Message)
		loss := rs["diff/data-loss"]
		require.Equal(t, result.Failed, loss.Status, loss.Message)
		assert.Contains(t, loss.Message, "StatefulSet flyte/flyte-db deleted")
		var pc *change.App
		for i := range rev.Apps {
			if rev.Apps[i].Name == "platform-config" {
				pc = &rev.Apps[i]
			}
		}
		require.NotNil(t, pc, "platform-config's objects changed: %+v", rev.Apps)
		assert.Contains(t, pc.Removed, "StatefulSet flyte/flyte-db")
		assert.Contains(t, pc.Added, "StatefulSet flyte/flyte-db-v2")
	})
	t.Run("a GPU component leaving the GPU group is shown and fails", func(t *testing.T) {
		var moved *change.Move
		for i, m := range rev.Moves {
			if strings.Contains(m.Workload, "nvidia-device-plugin") {
				moved = &rev.Moves[i]
			}
		}
		require.NotNil(t, moved, "the device plugin's move is shown: %+v", rev.Moves)
		assert.Contains(t, moved.Before, "gpu")
		// The chart's own node affinity still asks for a GPU node (nvidia.com/gpu.present): with the system
		// group's selector no node matches, so its pods are gone rather than moved.
		assert.NotContains(t, moved.After, "gpu")
		var failed []string
		for _, r := range rev.Results {
			if r.Status == result.Failed && r.Name != "diff/data-loss" && r.Name != "diff/disruption" {
				failed = append(failed, r.Name+": "+r.Message)
			}
		}
		assert.NotEmpty(t, failed, "a GPU component off the GPU group fails a check on the result")
		t.Logf("failed: %s", strings.Join(failed, "\n"))
	})
	t.Run("a rollout that takes a budgeted workload down fails", func(t *testing.T) {
		assert.Equal(t, 1, rev.Replaced["Deployment flyte/flyte-flyte-binary"], "Flyte's pod is replaced: %v", rev.Replaced)
		r := rs["diff/disruption"]
		require.Equal(t, result.Failed, r.Status, r.Message)
		assert.Contains(t, r.Message, "PodDisruptionBudget flyte/flyte-binary (minAvailable 1: 1 healthy pod(s) wanted) of Deployment flyte/flyte-flyte-binary fell to 0 healthy pod(s) during the change (Deployment flyte/flyte-flyte-binary: 1 pod(s) replaced)")
	})
}

// TestDiffNamesWhatTheAPIServerRefusesOrStrands rehearses a change with two mistakes Argo CD syncs without a
// word. A selector change of the database's StatefulSet (an immutable field): Argo CD 3.6 with ServerSideApply
// reports platform-config Synced and Healthy all the same (argoproj/argo-cd#28722: measured here, no condition
// either); diff/landed applies the changed object again as Argo CD does (dry run) and fails with the API server's
// message naming the field. And a bump of the kserve-crd chart whose ClusterStorageContainer CRD moves its storage
// to a new version and stops serving the old one, which the API server accepts (the old version is still listed)
// while what is stored at it can no longer be read: diff/crd-versions names the CRD and the version.
func TestDiffNamesWhatTheAPIServerRefusesOrStrands(t *testing.T) {
	t.Parallel()
	const crd = "clusterstoragecontainers.serving.kserve.io"
	rev := rehearseChange(t, rehearsal{changeTimeout: 2 * time.Minute, head: func(root string) {
		f := "helm/platform-config/templates/database.yaml"
		testenv.Edit(t, root, f, "    matchLabels:\n      app.kubernetes.io/name: {{ $name }}\n", "    matchLabels:\n      app.kubernetes.io/name: {{ $name }}\n      app.kubernetes.io/component: database\n")
		testenv.Edit(t, root, "helm/platform-app/values.yaml", "      chart: kserve-crd\n      targetRevision: v0.15.2\n", "      chart: kserve-crd\n      targetRevision: v0.15.3\n")
	}, headCharts: func(dir string) {
		testenv.Edit(t, dir, "kserve-crd/Chart.yaml", "version: v0.15.2", "version: v0.15.3")
		p := filepath.Join(dir, "kserve-crd/templates/serving.kserve.io_clusterstoragecontainers.yaml")
		data, err := os.ReadFile(p)
		require.NoError(t, err)
		var obj map[string]any
		require.NoError(t, yaml.Unmarshal(data, &obj))
		spec := obj["spec"].(map[string]any)
		versions := spec["versions"].([]any)
		require.Len(t, versions, 1, "%s changed; update the test", p)
		old := versions[0].(map[string]any)
		next := maps.Clone(old)
		next["name"], old["served"], old["storage"] = "v1alpha2", false, false
		spec["versions"] = append(versions, next)
		data, err = yaml.Marshal(obj)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(p, data, 0o644))
	}})
	rs := byName(rev.Results)
	t.Run("an immutable field", func(t *testing.T) {
		r := rs["diff/landed"]
		require.Equal(t, result.Failed, r.Status, r.Message)
		assert.Contains(t, r.Message, "Application platform-config")
		text := r.Message + "\n" + strings.Join(r.Details, "\n")
		assert.Contains(t, text, "StatefulSet")
		assert.Regexp(t, `(?i)forbidden|immutable`, text)
	})
	t.Run("a stored CRD version no longer served", func(t *testing.T) {
		assert.Equal(t, result.Passed, rs["deploy/kserve-crd"].Status, "the API server accepts the CRD: %s", rs["deploy/kserve-crd"].Message)
		r := rs["diff/crd-versions"]
		require.Equal(t, result.Failed, r.Status, r.Message)
		assert.Contains(t, r.Message, crd+": objects stored at v1alpha1, which the change no longer serves (served: v1alpha2)")
	})
}
