package static

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/check/rehearse"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/engine"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/test/testenv"
)

var (
	apisOnce sync.Once
	apis     map[string]*rehearse.APIs
	apisErr  error
)

// minorAPIs downloads (once, into the module cache) k8s.io/kubernetes at the newest patch of the declared minor
// and the next, and reads their discovery documents.
func minorAPIs(t *testing.T) (from, to string, current, target *rehearse.APIs) {
	t.Helper()
	from = testenv.MustShape(t, "local").KubernetesVersion
	m, err := rehearse.Minor(from)
	require.NoError(t, err)
	to = "1." + strconv.Itoa(m+1)
	apisOnce.Do(func() {
		apis = map[string]*rehearse.APIs{}
		for _, v := range []string{from, to} {
			a, err := rehearse.FetchAPIs(t.Context(), v)
			if err != nil {
				apisErr = err
				return
			}
			apis[v] = a
		}
	})
	require.NoError(t, apisErr, "the Go module proxy serves k8s.io/kubernetes for both minors")
	return from, to, apis[from], apis[to]
}

func staticRehearsal(t *testing.T, root string) map[string]result.Result {
	t.Helper()
	from, to, current, target := minorAPIs(t)
	e := testenv.MustEnv(t, testenv.MustPlatform(t, root, "local"), nil, engine.Charts{Dir: testenv.ChartsDir(t)}, "")
	out := map[string]result.Result{}
	for _, r := range rehearse.Static(t.Context(), e, from, to, target, current) {
		out[r.Name] = r
	}
	return out
}

// TestRehearsalStaticPassesOnThePlatform: every object of the platform (in-repo and upstream charts at their
// pins, workflows, Applications) uses APIs the next minor serves, every chart admits it, node groups and add-ons
// follow cluster_version; the add-on versions are left to the real-AWS tier, saying so. cluster_version's
// validation decides the target with terraform/versions.tf's support calendar: while the calendar has no date for
// the target, the rehearsal names that blocker (the plan would refuse the upgrade); with a date it passes.
func TestRehearsalStaticPassesOnThePlatform(t *testing.T) {
	rs := staticRehearsal(t, testenv.Root())
	for _, n := range []string{rehearse.NameAPIs, rehearse.NameKubeVersion, rehearse.NameSkew, rehearse.NamePins} {
		assert.Equal(t, result.Passed, rs[n].Status, "%s: %s %v", n, rs[n].Message, rs[n].Details)
	}
	assert.Equal(t, result.Skipped, rs[rehearse.NameAddons].Status)
	assert.Contains(t, rs[rehearse.NameAddons].Message, "DescribeAddonVersions")

	_, to, _, _ := minorAPIs(t)
	cal := rs[rehearse.NameCalendar]
	if cal.Status == result.Failed {
		assert.Contains(t, strings.Join(cal.Details, "\n"), "eks_standard_support_ends has no "+to, "%s", cal.Message)
	}
	root := testenv.CopyRepo(t)
	testenv.Edit(t, root, "terraform/versions.tf", "    \"1.35\" = \"2027-03-27T00:00:00Z\"\n", "    \"1.35\" = \"2027-03-27T00:00:00Z\"\n    \""+to+"\" = \"2099-01-01T00:00:00Z\"\n")
	cal = staticRehearsal(t, root)[rehearse.NameCalendar]
	assert.Equal(t, result.Passed, cal.Status, "%s %v", cal.Message, cal.Details)

	// Two minors in one step: EKS refuses it; the plan must be one step per minor.
	from, _, current, target := minorAPIs(t)
	m, err := rehearse.Minor(from)
	require.NoError(t, err)
	e := testenv.MustEnv(t, testenv.MustPlatform(t, testenv.Root(), "local"), nil, engine.Charts{Dir: testenv.ChartsDir(t)}, "")
	for _, r := range rehearse.Static(t.Context(), e, from, "1."+strconv.Itoa(m+2), target, current) {
		if r.Name == rehearse.NameSkew {
			assert.Equal(t, result.Failed, r.Status)
			assert.Contains(t, r.Message, "one minor at a time")
		}
	}
}

// TestRehearsalStaticNamesWhatBreaks breaks a copy four ways: a PodDisruptionBudget in policy/v1beta1 (removed in
// 1.25) in an in-repo chart, a chart whose kubeVersion excludes the target, a node group that pins no version and
// an add-on that pins none. Each is named with its file.
func TestRehearsalStaticNamesWhatBreaks(t *testing.T) {
	root := testenv.CopyRepo(t)
	require.NoError(t, os.WriteFile(filepath.Join(root, "helm/platform-config/templates/legacy-pdb.yaml"), []byte(`apiVersion: policy/v1beta1
kind: PodDisruptionBudget
metadata:
  name: legacy
  namespace: ml-training
spec:
  maxUnavailable: 1
  selector:
    matchLabels:
      app: legacy
`), 0o644))
	_, to, _, _ := minorAPIs(t)
	testenv.Edit(t, root, "helm/platform-config/Chart.yaml", "version: 0.1.0\n", "version: 0.1.0\nkubeVersion: \"< "+to+".0-0\"\n")
	testenv.Edit(t, root, "terraform/modules/eks/node_groups.tf", "  version        = aws_eks_cluster.this.version\n", "")
	testenv.Edit(t, root, "terraform/modules/eks/addons.tf", "  addon_version               = data.aws_eks_addon_version.this[each.value].version\n", "")
	rs := staticRehearsal(t, root)

	apis := rs[rehearse.NameAPIs]
	require.Equal(t, result.Failed, apis.Status, "%s", apis.Message)
	d := strings.Join(apis.Details, "\n")
	assert.Contains(t, d, "platform-config/templates/legacy-pdb.yaml")
	assert.Contains(t, d, "PodDisruptionBudget ml-training/legacy uses policy/v1beta1, which Kubernetes "+to+" does not serve")
	assert.Contains(t, d, "use policy/v1")

	kv := rs[rehearse.NameKubeVersion]
	require.Equal(t, result.Failed, kv.Status, "%s", kv.Message)
	assert.Contains(t, strings.Join(kv.Details, "\n"), "chart platform-config 0.1.0")

	pins := rs[rehearse.NamePins]
	require.Equal(t, result.Failed, pins.Status, "%s", pins.Message)
	d = strings.Join(pins.Details, "\n")
	assert.Contains(t, d, "node_groups.tf")
	assert.Contains(t, d, "aws_eks_node_group.this pins no version")
	assert.Contains(t, d, "aws_eks_addon.this pins no addon_version")
}
