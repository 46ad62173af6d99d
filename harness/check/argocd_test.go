package check

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/platform"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
)

// TestArgoCDSyncBreaks: the repository's Applications pass; an Application whose retry is removed, one whose
// retry limit is 0, and the Application health check removed from argocd-cm (the waves then gate nothing) each fail
// naming the Application or the settings file.
func TestArgoCDSyncBreaks(t *testing.T) {
	p, err := platform.Load("../..", "local")
	require.NoError(t, err)
	r := ArgoCDSync(p)
	require.Equal(t, result.Passed, r.Status, "%s %v", r.Message, r.Details)

	app := func(p *platform.Platform, name string) *unstructured.Unstructured {
		for _, o := range append(p.Bootstrap, p.Objects...) {
			if o.GetKind() == "Application" && o.GetName() == name {
				return o.Unstructured
			}
		}
		t.Fatalf("no Application %s", name)
		return nil
	}
	for name, brk := range map[string]func(p *platform.Platform){
		"Application kserve: automated sync without syncPolicy.retry": func(p *platform.Platform) {
			unstructured.RemoveNestedField(app(p, "kserve").Object, "spec", "syncPolicy", "retry")
		},
		"Application platform-app: syncPolicy.retry.limit 0": func(p *platform.Platform) {
			require.NoError(t, unstructured.SetNestedField(app(p, "platform-app").Object, int64(0), "spec", "syncPolicy", "retry", "limit"))
		},
		"sets no resource.customizations.health.argoproj.io_Application": func(p *platform.Platform) {
			delete(p.ArgoCDSettings, applicationHealth)
		},
	} {
		c, err := platform.Load("../..", "local")
		require.NoError(t, err)
		brk(c)
		r := ArgoCDSync(c)
		assert.Equal(t, result.Failed, r.Status, name)
		assert.Contains(t, strings.Join(r.Details, "\n"), name)
	}
}
