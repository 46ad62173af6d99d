package check

import (
	"fmt"
	"strings"

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
//     for argoproj.io/Application), or the waves gate nothing and every child syncs at once.
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
	waves := map[string]bool{}
	for _, a := range apps {
		at := fmt.Sprintf("%s: Application %s", a.Source, a.GetName())
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
