package rehearse

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/chartutil"
	"sigs.k8s.io/yaml"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/check/policy"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/deploy"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/engine"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/platform"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
)

// Result names of the static step.
const (
	NameAPIs        = "rehearse/apis"
	NameKubeVersion = "rehearse/kube-version"
	NameSkew        = "rehearse/skew"
	NamePins        = "rehearse/version-pins"
	NameAddons      = "rehearse/addon-versions"
	NameCalendar    = "rehearse/cluster-version"
)

// Static is the static step of one upgrade step from → to ("1.35" → "1.36"): every object that would be on the
// cluster (the Applications, the in-repo charts and workflows of the platform model, every upstream chart at its
// pinned version rendered with the project's values, the bootstrap) against the target's API data (current, when
// not nil, says whether the API is already gone today); chart kubeVersion constraints; kubelet skew; what in
// Terraform would not follow the version; EKS add-on versions (skipped: DescribeAddonVersions needs AWS).
func Static(ctx context.Context, e *engine.Env, from, to string, target, current *APIs) []result.Result {
	first := result.Skip(NameAPIs, "no API data for Kubernetes %s (the target's k8s.io/kubernetes could not be downloaded)", to)
	if target != nil {
		// Charts are rendered for the target, as Argo CD renders them once the cluster runs it.
		first = apis(ctx, e, to, target, current)
	}
	out := []result.Result{first, kubeVersions(ctx, e, to), skew(from, to), pins(e), clusterVersion(e, to), addons(e, to)}
	// Charts that could not be rendered: the apis and kube-version checks' part for them is reported apart, skipped.
	if _, skipped := e.RenderChartsAt(ctx, to); len(skipped) > 0 {
		for _, name := range []string{NameAPIs, NameKubeVersion} {
			for _, r := range out {
				if r.Name == name && r.Status == result.Passed {
					out = append(out, result.SkippedPart(name, skipped))
				}
			}
		}
	}
	return out
}

// clusterVersion: cluster_version's own validations (the EKS standard-support calendar) must accept the target,
// or the upgrade's `terraform plan` refuses it.
func clusterVersion(e *engine.Env, to string) result.Result {
	msg, err := policy.TargetRefused(e.Platform, to, time.Now())
	switch {
	case err != nil:
		return result.Fail(NameCalendar, nil, "%v", err)
	case msg != "":
		return result.Fail(NameCalendar, []string{msg}, "terraform plan would refuse cluster_version = %q", to)
	}
	return result.Pass(NameCalendar, "cluster_version = %q passes its validations (in EKS standard support today)", to)
}

// objects is everything that would be on the cluster, each with the file it comes from: the workflow manifests,
// the in-repo charts rendered with their Applications' values (sources named under the chart's path), the
// bootstrap, and every upstream chart at its pinned version.
func objects(ctx context.Context, e *engine.Env, to string) ([]deploy.Object, []string) {
	p := e.Platform
	var objs []deploy.Object
	for _, o := range p.Objects {
		if strings.HasPrefix(filepath.ToSlash(o.Source), "workflows/") {
			objs = append(objs, o)
		}
	}
	var skipped []string
	for _, a := range p.Apps {
		if !a.InRepo(platform.RepoURL) {
			continue
		}
		rendered, err := deploy.Render(filepath.Join(p.Root, a.Path), deploy.Release{Name: a.Name, Namespace: a.Namespace, KubeVersion: to}, nil, a.Values)
		if err != nil {
			skipped = append(skipped, fmt.Sprintf("%s: %v", a.Name, err))
			continue
		}
		for i := range rendered {
			rendered[i].Source = filepath.ToSlash(filepath.Join(a.Path, rendered[i].Source))
		}
		objs = append(objs, rendered...)
	}
	// The app-of-apps itself (it renders the Applications).
	for _, o := range p.Objects {
		if o.GetKind() == "Application" && !strings.HasPrefix(filepath.ToSlash(o.Source), "workflows/") && !inRepoRendered(objs, o) {
			objs = append(objs, o)
		}
	}
	objs = append(objs, p.Bootstrap...)
	rendered, more := e.RenderChartsAt(ctx, to)
	for _, r := range rendered {
		objs = append(objs, r.Objects...)
	}
	return objs, append(skipped, more...)
}

func inRepoRendered(objs []deploy.Object, o deploy.Object) bool {
	for _, x := range objs {
		if x.GetKind() == o.GetKind() && x.GetName() == o.GetName() && x.GetNamespace() == o.GetNamespace() {
			return true
		}
	}
	return false
}

func apis(ctx context.Context, e *engine.Env, to string, target, current *APIs) result.Result {
	objs, skipped := objects(ctx, e, to)
	var bad []string
	checked := 0
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		gv := gvk.GroupVersion()
		// Built-in groups are those the release's discovery knows; others come from CRDs (judged by the in-place
		// step against the CRDs the target serves).
		if !builtinGroup(target, current, gv.Group) {
			continue
		}
		checked++
		where := fmt.Sprintf("%s: %s %s", o.Source, gvk.Kind, name(o))
		switch {
		case strings.Contains(gv.Version, "alpha"):
			bad = append(bad, fmt.Sprintf("%s uses %s, an alpha API: EKS enables no alpha APIs", where, gv))
		case !target.Serves(gvk):
			msg := fmt.Sprintf("%s uses %s, which Kubernetes %s does not serve (%s api/discovery)", where, gv, to, target.Release)
			if alt := target.VersionsOf(gv.Group, gvk.Kind); len(alt) > 0 {
				msg += fmt.Sprintf("; use %s/%s", groupOrCore(gv.Group), strings.Join(alt, " or "))
			}
			if current != nil && current.Serves(gvk) {
				msg += fmt.Sprintf(" (served by %s today: removed by this upgrade)", current.Release)
			} else if current != nil {
				msg += fmt.Sprintf(" (nor by %s: it fails today too)", current.Release)
			}
			bad = append(bad, msg)
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return result.Fail(NameAPIs, bad, "%d object(s) use an API Kubernetes %s does not serve", len(bad), to)
	}
	msg := fmt.Sprintf("%d objects of built-in kinds served by Kubernetes %s (%s api/discovery)", checked, to, target.Release)
	if len(skipped) > 0 {
		msg += "; " + result.ScopeNote(skipped)
	}
	return result.Pass(NameAPIs, "%s", msg)
}

func builtinGroup(target, current *APIs, group string) bool {
	for _, a := range []*APIs{target, current} {
		if a == nil {
			continue
		}
		for gv := range a.kinds {
			if gv.Group == group {
				return true
			}
		}
	}
	// Groups Kubernetes served once and removed entirely (extensions) are built-in too.
	return group == "extensions"
}

func groupOrCore(g string) string {
	if g == "" {
		return "core"
	}
	return g
}

func name(o deploy.Object) string {
	if ns := o.GetNamespace(); ns != "" {
		return ns + "/" + o.GetName()
	}
	return o.GetName()
}

// kubeVersions checks every chart's kubeVersion constraint (Chart.yaml) against the target, as Helm does at
// install (a pre-release suffix is allowed, as EKS's versions carry one: v1.36.3-eks-…).
func kubeVersions(ctx context.Context, e *engine.Env, to string) result.Result {
	target := "v" + to + ".0-eks-0"
	var bad, skipped []string
	n := 0
	for _, a := range e.Platform.Apps {
		dir, why := e.ChartDir(ctx, a)
		if dir == "" {
			skipped = append(skipped, fmt.Sprintf("%s: %s", a.Name, why))
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, "Chart.yaml"))
		if err != nil {
			bad = append(bad, fmt.Sprintf("%s: %v", a.Name, err))
			continue
		}
		var meta struct {
			Name        string `json:"name"`
			Version     string `json:"version"`
			KubeVersion string `json:"kubeVersion"`
		}
		if err := yaml.Unmarshal(data, &meta); err != nil {
			bad = append(bad, fmt.Sprintf("%s: Chart.yaml: %v", a.Name, err))
			continue
		}
		if meta.KubeVersion == "" {
			continue
		}
		n++
		if !chartutil.IsCompatibleRange(meta.KubeVersion, target) {
			bad = append(bad, fmt.Sprintf("chart %s %s (Application %s): kubeVersion %q excludes Kubernetes %s: Helm and Argo CD refuse to install it there",
				meta.Name, meta.Version, a.Name, meta.KubeVersion, to))
		}
	}
	if len(bad) > 0 {
		return result.Fail(NameKubeVersion, bad, "%d chart(s) cannot be installed on Kubernetes %s", len(bad), to)
	}
	if len(skipped) > 0 {
		return result.Pass(NameKubeVersion, "%d chart constraint(s) admit %s; %s", n, to, result.ScopeNote(skipped))
	}
	return result.Pass(NameKubeVersion, "every chart admits Kubernetes %s (%d declare a kubeVersion constraint)", to, n)
}

// skew: before the control plane moves to `to`, every node group must be within two minors of it (EKS's rule for
// managed node groups; Kubernetes itself allows three since 1.28). The node groups run the declared version.
func skew(from, to string) result.Result {
	f, err1 := Minor(from)
	t, err2 := Minor(to)
	if err1 != nil || err2 != nil {
		return result.Fail(NameSkew, nil, "versions %q -> %q: want 1.NN", from, to)
	}
	if t != f+1 {
		return result.Fail(NameSkew, nil, "EKS upgrades the control plane one minor at a time: %s -> %s must be planned as %d steps", from, to, t-f)
	}
	return result.Pass(NameSkew, "node groups at %s, one minor behind the control plane at %s until rolled (EKS allows two)", from, to)
}

func pins(e *engine.Env) result.Result {
	found, err := policy.UpgradePins(e.Platform)
	if err != nil {
		return result.Fail(NamePins, nil, "%v", err)
	}
	if len(found) > 0 {
		return result.Fail(NamePins, found, "%d resource(s) would not follow cluster_version", len(found))
	}
	return result.Pass(NamePins, "node groups and add-ons follow cluster_version")
}

func addons(e *engine.Env, to string) result.Result {
	list, err := policy.Addons(e.Platform)
	if err != nil {
		return result.Fail(NameAddons, nil, "%v", err)
	}
	return result.Skip(NameAddons, "the add-on versions valid for %s come from EKS's DescribeAddonVersions, so the real-AWS tier checks them (%s)", to, strings.Join(list, ", "))
}
