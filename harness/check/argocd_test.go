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
		// adfinis/helm-charts#141: a trailing slash the AppProject's sourceRepos does not have.
		"Application cert-manager: source https://charts.jetstack.io/ is not permitted by AppProject mlops-platform": func(p *platform.Platform) {
			require.NoError(t, unstructured.SetNestedField(app(p, "cert-manager").Object, "https://charts.jetstack.io/", "spec", "source", "repoURL"))
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

// sourcePermitted follows Argo CD's AppProject.IsSourcePermitted: normalized URLs (case, ".git"), globs with '/'
// separators, "*" any, "!" deny; a trailing slash is not normalized away.
func TestSourcePermittedAsArgoCD(t *testing.T) {
	for _, c := range []struct {
		repos []string
		repo  string
		want  bool
	}{
		{[]string{"https://charts.jetstack.io"}, "https://charts.jetstack.io", true},
		{[]string{"https://charts.jetstack.io"}, "https://charts.jetstack.io/", false},
		{[]string{"https://charts.jetstack.io/"}, "https://charts.jetstack.io", false},
		{[]string{"https://GitHub.com/org/Repo.git"}, "https://github.com/org/repo", true},
		{[]string{"git@github.com:org/repo.git"}, "git@github.com:org/repo", true},
		{[]string{"*"}, "oci://anything/else", true},
		{[]string{"https://github.com/org/*"}, "https://github.com/org/repo", true},
		{[]string{"https://github.com/org/*"}, "https://github.com/org/team/repo", false},
		{[]string{"https://github.com/org/**"}, "https://github.com/org/team/repo", true},
		{[]string{"*", "!https://github.com/evil/*"}, "https://github.com/evil/repo", false},
		{[]string{"!https://github.com/evil/*"}, "https://github.com/good/repo", true}, // Argo CD's code: a deny alone permits the rest
		{[]string{"ssh://git@github.com/org/repo"}, "git@github.com:org/repo.git", true},
		{[]string{"git@github.com:org/repo"}, "ssh://git@github.com/org/repo", true},
		{[]string{"ghcr.io/kserve/charts"}, "ghcr.io/kserve/charts", true},
		{nil, "https://charts.jetstack.io", false},
	} {
		assert.Equal(t, c.want, sourcePermitted(c.repos, c.repo), "%v %s", c.repos, c.repo)
	}
}
