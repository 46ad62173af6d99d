package check

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/gobwas/glob"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/deploy"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/platform"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
)

// NameArgoCDSync is the static check of how Argo CD will sync the platform.
const NameArgoCDSync = "argocd-sync"

// applicationHealth is the argocd-cm key of a health check for Application resources: without it Argo CD (since
// 1.8) assesses no health for a child Application, so an app-of-apps' sync waves do not wait for one.
const applicationHealth = "resource.customizations.health.argoproj.io_Application"

// ArgoCDSync judges what decides whether Argo CD brings the platform up on a fresh cluster, from the Applications
// the repository renders (bootstrap.yaml and the app-of-apps) and the argocd-cm settings it ships
// (helm/argocd/argocd-cm.yaml):
//   - every automated Application retries a failed sync (syncPolicy.retry with a limit other than 0): without it a
//     sync that fails because another Application's CRDs, webhook or certificate are not there yet (kserve before
//     cert-manager) is not retried until the next change;
//   - child Applications ordered by sync waves need Argo CD to assess their health (the argocd-cm health check
//     for argoproj.io/Application), or the waves gate nothing and every child syncs at once;
//   - every Application's source is permitted by its AppProject's sourceRepos, as Argo CD decides it (see
//     sourcePermitted): Argo CD refuses to sync one that is not. Judged here, on the URLs the repository declares,
//     because the emulated deploy points the upstream charts' sources at its own chart server (and permits it).
func ArgoCDSync(p *platform.Platform) result.Result {
	var apps []deploy.Object
	for _, o := range append(append([]deploy.Object(nil), p.Bootstrap...), p.Objects...) {
		if o.GetKind() == "Application" && strings.HasPrefix(o.GetAPIVersion(), "argoproj.io/") {
			apps = append(apps, o)
		}
	}
	if len(apps) == 0 {
		return result.Pass(NameArgoCDSync, "no Argo CD Application in the repository")
	}
	var v []string
	projects := map[string][]string{}
	for _, o := range append(append([]deploy.Object(nil), p.Bootstrap...), p.Objects...) {
		if o.GetKind() == "AppProject" && strings.HasPrefix(o.GetAPIVersion(), "argoproj.io/") {
			projects[o.GetName()], _, _ = unstructured.NestedStringSlice(o.Object, "spec", "sourceRepos")
		}
	}
	waves := map[string]bool{}
	for _, a := range apps {
		at := fmt.Sprintf("%s: Application %s", a.Source, a.GetName())
		project, _, _ := unstructured.NestedString(a.Object, "spec", "project")
		if repos, ok := projects[project]; ok { // a project the repository does not declare is not judged here
			// Argo CD reads spec.sources when it is not empty (and ignores spec.source then), else spec.source.
			var sources []string
			multi, _, _ := unstructured.NestedSlice(a.Object, "spec", "sources")
			if repo, ok, _ := unstructured.NestedString(a.Object, "spec", "source", "repoURL"); ok && len(multi) == 0 {
				sources = append(sources, repo)
			}
			for _, src := range multi {
				if m, ok := src.(map[string]any); ok {
					if repo, ok := m["repoURL"].(string); ok {
						sources = append(sources, repo)
					}
				}
			}
			for _, repo := range sources {
				if !sourcePermitted(repos, repo) {
					v = append(v, fmt.Sprintf("%s: source %s is not permitted by AppProject %s (sourceRepos %s): Argo CD refuses to sync it (\"application repo %s is not permitted in project '%s'\")",
						at, repo, project, strings.Join(repos, ", "), repo, project))
				}
			}
		}
		if w, ok := a.GetAnnotations()["argocd.argoproj.io/sync-wave"]; ok {
			waves[strings.TrimSpace(w)] = true
		}
		if _, automated, _ := unstructured.NestedMap(a.Object, "spec", "syncPolicy", "automated"); !automated {
			continue
		}
		retry, ok, _ := unstructured.NestedMap(a.Object, "spec", "syncPolicy", "retry")
		if !ok {
			v = append(v, at+": automated sync without syncPolicy.retry: a sync that fails because what it needs is not there yet (CRDs, a webhook, a certificate of another Application) is not retried until the next change")
			continue
		}
		// Argo CD: a negative limit retries without end; 0 (or unset, the default) not at all.
		limit, err := deploy.IntAt(retry, 0, "limit")
		if err != nil {
			v = append(v, fmt.Sprintf("%s: syncPolicy.retry.%v", at, err))
		} else if limit == 0 {
			v = append(v, at+": syncPolicy.retry.limit 0 (or unset): a failed sync is not retried")
		}
	}
	if len(waves) > 1 && strings.TrimSpace(p.ArgoCDSettings[applicationHealth]) == "" {
		ws := make([]string, 0, len(waves))
		for w := range waves {
			ws = append(ws, w)
		}
		v = append(v, fmt.Sprintf("the Applications use %d sync waves, but %s sets no %s: Argo CD assesses no health for Applications (removed in 1.8), so a wave does not wait for the one before and every child syncs at once", len(waves), platform.ArgoCDSettingsFile, applicationHealth))
	}
	if len(v) > 0 {
		return result.Fail(NameArgoCDSync, v, "%d problem(s) in how Argo CD would sync the platform: %s", len(v), v[0])
	}
	return result.Pass(NameArgoCDSync, "%d Applications: every automated one retries failed syncs; %d sync waves gated by the Application health check in %s", len(apps), len(waves), platform.ArgoCDSettingsFile)
}

// sourcePermitted decides, as Argo CD's AppProject.IsSourcePermitted does, whether sourceRepos permits repo: both
// sides normalized as Argo CD normalizes repository URLs (normalizeRepoURL: a trailing slash stays, so
// https://charts.jetstack.io/ is not https://charts.jetstack.io), every entry a glob with '/' as separator ("*"
// alone permits any). An entry "!X" is Argo CD's deny: a source matching X is refused whatever else permits it, and
// — as Argo CD's code has it — a source not matching X counts as permitted by that entry.
func sourcePermitted(sourceRepos []string, repo string) bool {
	src := normalizeRepoURL(repo)
	permitted := false
	for _, entry := range sourceRepos {
		deny := strings.HasPrefix(entry, "!")
		pattern := normalizeRepoURL(strings.TrimPrefix(entry, "!"))
		matched := pattern == "*"
		if !matched {
			if g, err := glob.Compile(pattern, '/'); err == nil {
				matched = g.Match(src)
			}
		}
		switch {
		case deny && matched:
			return false
		case deny || matched:
			permitted = true
		}
	}
	return permitted
}

// sshURL is Argo CD's test for an SSH repository URL (util/git: sshURLRegex).
var sshURL = regexp.MustCompile(`^(ssh://)?([^/:]*?)@[^@]+$`)

// normalizeRepoURL is a repository URL as Argo CD compares it (util/git NormalizeGitURL): trimmed, lower case; an
// scp-like SSH URL (git@host:path) with its first colon as a slash; without a ".git" suffix; re-serialized by
// net/url ("" when it does not parse); without the ssh:// scheme.
func normalizeRepoURL(repo string) string {
	repo = strings.ToLower(strings.TrimSpace(repo))
	if sshURL.MatchString(repo) && !strings.HasPrefix(repo, "ssh://") {
		repo = "ssh://" + strings.Replace(repo, ":", "/", 1)
	}
	repo = strings.TrimSuffix(repo, ".git")
	u, err := url.Parse(repo)
	if err != nil {
		return ""
	}
	return strings.TrimPrefix(u.String(), "ssh://")
}
