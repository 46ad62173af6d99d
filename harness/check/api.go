package check

import (
	"context"
	"fmt"
	"sort"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/deploy"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/engine"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
)

// APIAcceptance submits every object with a server-side dry run and strict field validation: the API server
// validates it (schema — for custom resources the generated CRD's — unknown and duplicate fields, admission)
// without storing it; an object that already exists (installed by Helm) was accepted for real. Objects whose
// kind the cluster does not serve (no CRD installed) cannot be validated; they are reported in a second,
// skipped result and never counted as accepted.
func APIAcceptance(ctx context.Context, e *engine.Env) []result.Result {
	objs := e.Platform.Objects
	const name = "api-acceptance"
	res, err := deploy.NewResources(e.REST())
	if err != nil {
		return []result.Result{result.Fail(name, nil, "%v", err)}
	}
	var problems, notes []string
	// ArgoCD's own install creates its namespace; the platform's Applications live there but nothing in this
	// repository declares it. Create it as that precondition, and say so. Any other missing namespace stays an
	// error: it is a typo or a namespace the platform forgot to declare.
	for _, ns := range argoNamespaces(objs) {
		created, err := engine.EnsureNamespace(ctx, e.Clientset(), ns)
		if err != nil {
			return []result.Result{result.Fail(name, nil, "namespace %s: %v", ns, err)}
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
	var out []result.Result
	switch {
	case len(problems) > 0:
		out = append(out, result.Fail(name, problems, "%d of %d objects rejected by the API server", len(problems), len(problems)+accepted))
	case accepted == 0:
		out = append(out, result.Skip(name, "no object of a kind this cluster serves"))
	default:
		r := result.Pass(name, "%d objects accepted by a strict server-side dry run", accepted)
		r.Details = notes
		out = append(out, r)
	}
	if len(unknown) > 0 {
		var kinds []string
		for k, n := range unknown {
			kinds = append(kinds, fmt.Sprintf("%s (%d)", k, n))
		}
		sort.Strings(kinds)
		r := result.Skip(name+"/custom-resources", "no CRD installed for %d kind(s); their pod templates are placed by probes instead", len(kinds))
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
