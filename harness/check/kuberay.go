package check

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/controllers/kuberay"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/deploy"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/engine"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
)

// NameKubeRay is the verdict of KubeRay's own validation on the platform's Ray objects.
const NameKubeRay = "kuberay-validation"

// KubeRayChart is the chart of KubeRay's operator.
const KubeRayChart = "kuberay-operator"

// rayKinds are the kinds KubeRay's reconcilers validate.
var rayKinds = map[string]bool{"RayCluster": true, "RayJob": true, "RayService": true}

// KubeRayValidation judges every RayCluster, RayJob and RayService the platform creates as KubeRay's operator
// does before it creates anything: the object as the API server would store it (a server-side dry run: CRD
// defaults applied, unknown fields pruned), then the reconciler's own validation (tools/kuberay --validate, the
// ray-operator module at the version the chart installs) with the feature gates the platform's chart renders.
// What it refuses never runs on EKS: the RayJob goes to ValidationFailed, the RayCluster or RayService only
// records an Invalid… event, and no pod is created — nothing else in a run shows it without the operator.
func KubeRayValidation(ctx context.Context, e *engine.Env, binary string, rendered []engine.Rendered) result.Result {
	var objs []deploy.Object
	for _, o := range e.Platform.Objects {
		if rayKinds[o.GetKind()] && strings.HasPrefix(o.GetAPIVersion(), "ray.io/") {
			objs = append(objs, o)
		}
	}
	if len(objs) == 0 {
		return result.Skip(NameKubeRay, "the platform creates no RayCluster, RayJob or RayService")
	}
	if binary == "" {
		return result.Skip(NameKubeRay, "no KubeRay build given (harness check finds bin/kuberay: make kuberay)")
	}
	res, err := deploy.NewResources(e.REST())
	if err != nil {
		return result.Fail(NameKubeRay, nil, "%v", err)
	}
	var stored []map[string]any
	var judged []deploy.Object
	var notes []string
	for _, o := range objs {
		c, err := res.For(o.Unstructured)
		if meta.IsNoMatchError(err) {
			notes = append(notes, fmt.Sprintf("%s (%s): the cluster serves no %s (KubeRay's CRDs not installed)", o, o.Source, o.GetKind()))
			continue
		}
		if err != nil {
			return result.Fail(NameKubeRay, nil, "%s: %v", o, err)
		}
		got, err := c.Create(ctx, o.Unstructured, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if apierrors.IsAlreadyExists(err) {
			got, err = c.Get(ctx, o.GetName(), metav1.GetOptions{})
		}
		if err != nil {
			// api-acceptance names what the API server refused; KubeRay never sees such an object.
			notes = append(notes, fmt.Sprintf("%s (%s): not judged, the API server refused it (api-acceptance)", o, o.Source))
			continue
		}
		stored = append(stored, got.Object)
		judged = append(judged, o)
	}
	if len(stored) == 0 {
		r := result.Skip(NameKubeRay, "no Ray object reached KubeRay's validation")
		r.Details = notes
		return r
	}
	gates, from := kubeRayGates(e.Platform.Apps, rendered)
	verdicts, err := kuberay.Validate(ctx, binary, gates, stored)
	if err != nil {
		return result.Fail(NameKubeRay, nil, "%v", err)
	}
	var problems []string
	valid := 0
	for i, v := range verdicts {
		o := judged[i]
		switch {
		case v.Skipped != "":
			notes = append(notes, fmt.Sprintf("%s (%s): %s", o, o.Source, v.Skipped))
		case v.Reason != "":
			problems = append(problems, fmt.Sprintf("%s (%s): %s: %s", o, o.Source, v.Reason, v.Message))
		default:
			valid++
		}
	}
	notes = append(notes, "feature gates: "+from)
	if len(problems) > 0 {
		return result.Fail(NameKubeRay, append(problems, notes...), "%d of %d Ray object(s) refused by KubeRay's own validation: its operator creates nothing for them", len(problems), len(verdicts))
	}
	r := result.Pass(NameKubeRay, "%d Ray object(s) pass KubeRay's own validation (as stored by the API server)", valid)
	r.Details = notes
	return r
}

var featureGatesArg = regexp.MustCompile(`^--feature-gates=(.*)$`)

// kubeRayGates is the operator's --feature-gates as the platform's kuberay-operator chart renders it (its
// Deployment's args), else as its Application's featureGates values give it; "" leaves the operator's defaults
// (the chart's own defaults are the same). from says which.
func kubeRayGates(apps []deploy.App, rendered []engine.Rendered) (gates, from string) {
	for _, c := range rendered {
		if c.App.Chart != KubeRayChart {
			continue
		}
		for _, o := range c.Objects {
			if o.GetKind() != "Deployment" {
				continue
			}
			containers, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
			for _, ct := range containers {
				m, _ := ct.(map[string]any)
				args, _, _ := unstructured.NestedStringSlice(m, "args")
				for _, a := range args {
					if g := featureGatesArg.FindStringSubmatch(a); g != nil {
						return g[1], fmt.Sprintf("%s (rendered by the %s chart of Application %s)", g[1], KubeRayChart, c.App.Name)
					}
				}
			}
		}
		return "", fmt.Sprintf("the operator's defaults (the %s chart of Application %s renders none)", KubeRayChart, c.App.Name)
	}
	for _, a := range apps {
		if a.Chart != KubeRayChart {
			continue
		}
		list, _ := a.Values["featureGates"].([]any)
		var parts []string
		for _, g := range list {
			m, _ := g.(map[string]any)
			name, _ := m["name"].(string)
			if name == "" {
				continue
			}
			parts = append(parts, fmt.Sprintf("%s=%v", name, m["enabled"] == true))
		}
		if len(parts) > 0 {
			g := strings.Join(parts, ",")
			return g, fmt.Sprintf("%s (Application %s's featureGates; its chart not rendered)", g, a.Name)
		}
	}
	return "", "the operator's defaults (no kuberay-operator chart rendered)"
}

// kubeRayStep runs KubeRayValidation in the acceptance phase.
func kubeRayStep(ctx context.Context, r *Run) ([]result.Result, error) {
	t0 := time.Now()
	var rendered []engine.Rendered
	if r.KubeRay != "" {
		rendered, _ = r.RenderCharts(ctx)
	}
	res := KubeRayValidation(ctx, r.Env, r.KubeRay, rendered)
	res.Duration = time.Since(t0)
	return []result.Result{res}, nil
}

// KubeRayAt is the KubeRay build of the repository at root (bin/kuberay, make kuberay), or "" when it is not built.
func KubeRayAt(root string) string {
	p := filepath.Join(root, "bin", "kuberay")
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}
