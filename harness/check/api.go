package check

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/deploy"
)

// APIAcceptance submits every object with a server-side dry run and strict field validation: the API server
// validates it (schema — for custom resources the generated CRD's — unknown and duplicate fields, admission)
// without storing it; an object that already exists (installed by Helm) was accepted for real. Objects whose
// kind the cluster does not serve (no CRD installed) cannot be validated; they are reported in a second,
// skipped result and never counted as accepted.
func APIAcceptance(ctx context.Context, rc *rest.Config, objs []deploy.Object) []Result {
	const name = "api-acceptance"
	res, err := deploy.NewResources(rc)
	if err != nil {
		return []Result{fail(name, nil, "%v", err)}
	}
	var problems, notes []string
	// ArgoCD's own install creates its namespace; the platform's Applications live there but nothing in this
	// repository declares it. Create it as that precondition, and say so. Any other missing namespace stays an
	// error: it is a typo or a namespace the platform forgot to declare.
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return []Result{fail(name, nil, "client: %v", err)}
	}
	for _, ns := range argoNamespaces(objs) {
		created, err := ensureNamespace(ctx, cs, ns)
		if err != nil {
			return []Result{fail(name, nil, "namespace %s: %v", ns, err)}
		}
		if created {
			notes = append(notes, fmt.Sprintf("namespace %s created first: ArgoCD's install creates it, bootstrap.yaml assumes it", ns))
		}
	}
	unknown := map[string]int{}
	accepted := 0
	for _, o := range objs {
		c, err := res.For(o.Unstructured)
		if meta.IsNoMatchError(err) {
			unknown[o.GetKind()+"."+o.GroupVersionKind().Group]++
			continue
		}
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s (%s): %v", o, o.Source, err))
			continue
		}
		if _, err := c.Create(ctx, o.Unstructured, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}, FieldValidation: metav1.FieldValidationStrict}); err != nil && !apierrors.IsAlreadyExists(err) {
			problems = append(problems, fmt.Sprintf("%s (%s): %v", o, o.Source, err))
			continue
		}
		accepted++
	}
	var out []Result
	switch {
	case len(problems) > 0:
		out = append(out, fail(name, problems, "%d of %d objects rejected by the API server", len(problems), len(problems)+accepted))
	case accepted == 0:
		out = append(out, skip(name, "no object of a kind this cluster serves"))
	default:
		r := pass(name, "%d objects accepted by a strict server-side dry run", accepted)
		r.Details = notes
		out = append(out, r)
	}
	if len(unknown) > 0 {
		var kinds []string
		for k, n := range unknown {
			kinds = append(kinds, fmt.Sprintf("%s (%d)", k, n))
		}
		sort.Strings(kinds)
		r := skip(name+"/custom-resources", "no CRD installed for %d kind(s); their pod templates are placed by probes instead", len(kinds))
		r.Details = kinds
		out = append(out, r)
	}
	return out
}

func argoNamespaces(objs []deploy.Object) []string {
	seen := map[string]bool{}
	var out []string
	for _, o := range objs {
		if o.GroupVersionKind().Group == "argoproj.io" && o.GetNamespace() != "" && !seen[o.GetNamespace()] {
			seen[o.GetNamespace()] = true
			out = append(out, o.GetNamespace())
		}
	}
	return out
}

// ApplyWorkflows creates the workflow manifests (workflows/*/*.yaml: RayJob, RayService, InferenceService) in
// the cluster for real, as `kubectl apply` would on EKS. Here no operator acts on them: their pod templates are
// placed by the probes, and the result says so. A kind the cluster does not serve is a skip, never a pass.
func ApplyWorkflows(ctx context.Context, rc *rest.Config, objs []deploy.Object) Result {
	const name = "deploy/workflows"
	res, err := deploy.NewResources(rc)
	if err != nil {
		return fail(name, nil, "%v", err)
	}
	var applied, unserved, problems []string
	for _, o := range objs {
		if !strings.HasPrefix(filepath.ToSlash(o.Source), "workflows/") {
			continue
		}
		c, err := res.For(o.Unstructured)
		if meta.IsNoMatchError(err) {
			unserved = append(unserved, fmt.Sprintf("%s (%s)", o, o.Source))
			continue
		}
		if err == nil {
			_, err = c.Create(ctx, o.DeepCopy(), metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict})
		}
		if err != nil && !apierrors.IsAlreadyExists(err) {
			problems = append(problems, fmt.Sprintf("%s (%s): %v", o, o.Source, err))
			continue
		}
		applied = append(applied, o.String())
	}
	switch {
	case len(problems) > 0:
		return fail(name, problems, "%d of %d workflow manifests not applied", len(problems), len(problems)+len(applied)+len(unserved))
	case len(unserved) > 0:
		r := skip(name, "%d workflow manifest(s) of kinds this cluster does not serve (CRDs not installed)", len(unserved))
		r.Details = unserved
		return r
	case len(applied) == 0:
		return skip(name, "no workflow manifests")
	}
	r := pass(name, "%d workflow manifests applied; no operator runs them here, their pod templates are placed by probes", len(applied))
	r.Details = applied
	return r
}
