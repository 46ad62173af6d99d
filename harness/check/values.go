package check

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/deploy"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/engine"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
)

// NameValues is the values-against-chart verdict.
const NameValues = "values"

// Values judges every Application's values against the chart it configures, whatever deploys the platform
// (Helm, Argo CD, an existing cluster, a scenario): the chart's values.schema.json accepts the merged values (as
// Helm and Argo CD's repo server refuse them otherwise), and every key has an effect on what the chart renders
// (deploy.UnusedValues: a misspelt key is otherwise silently ignored and its setting lost on EKS). Charts that
// cannot be had are reported apart (skipped part).
func Values(ctx context.Context, e *engine.Env) []result.Result {
	var bad, unsure, skipped []string
	judged := 0
	for _, a := range e.Platform.Apps {
		dir, why := e.ChartDir(ctx, a)
		if dir == "" && e.ChartRefused(ctx, a) {
			bad = append(bad, fmt.Sprintf("Application %s: %s", a.Name, why))
			continue
		}
		if dir == "" {
			skipped = append(skipped, fmt.Sprintf("%s: %s", a.Name, why))
			continue
		}
		judged++
		where := func(key string) string {
			if a.Chart != "" {
				return e.Platform.ValueAt(a.Chart, strings.Split(key, "."))
			}
			return filepath.Join("helm", "platform-app", "values.yaml")
		}
		chartName := a.Chart
		if chartName == "" {
			chartName = a.Path
		}
		if msg := schemaProblem(dir, a.Values); msg != "" {
			bad = append(bad, fmt.Sprintf("%s: Application %s: chart %s %s refuses the values: %s", where(""), a.Name, chartName, a.TargetRevision, msg))
		}
		problems, notSure, err := deploy.UnusedValues(dir, deploy.Release{Name: a.Name, Namespace: a.Namespace, KubeVersion: e.Platform.Shape.KubernetesVersion}, a.Values)
		if err != nil {
			bad = append(bad, fmt.Sprintf("Application %s: %v", a.Name, err))
			continue
		}
		for _, p := range problems {
			bad = append(bad, fmt.Sprintf("%s: Application %s: %s: %s", where(p.Key), a.Name, p.Key, p.Reason))
		}
		for _, u := range notSure {
			unsure = append(unsure, fmt.Sprintf("Application %s: %s", a.Name, u))
		}
	}
	var out []result.Result
	switch {
	case len(bad) > 0:
		out = append(out, result.Fail(NameValues, append(bad, unsure...), "%d values key(s) the charts do not take: %s", len(bad), bad[0]))
	case judged == 0:
		out = append(out, result.Skip(NameValues, "no chart could be had: %s", strings.Join(skipped, "; ")))
		return out
	default:
		r := result.Pass(NameValues, "the values of %d Application(s) are taken by their charts (schema, and every key read by the templates)", judged)
		if len(unsure) > 0 {
			r.Message += fmt.Sprintf("; %d key(s) not judged (see details)", len(unsure))
			r.Details = unsure
		}
		out = append(out, r)
	}
	if len(skipped) > 0 && out[0].Status == result.Passed {
		out = append(out, result.SkippedPart(NameValues, skipped))
	}
	return out
}

// schemaProblem validates the values merged over the chart's defaults against its values.schema.json (and its
// subcharts'), as Helm does before rendering.
func schemaProblem(dir string, values map[string]any) string {
	ch, err := loader.Load(dir)
	if err != nil {
		return err.Error()
	}
	merged, err := deploy.MergedValues(dir, values)
	if err != nil {
		return err.Error()
	}
	if err := chartutil.ValidateAgainstSchema(ch, merged); err != nil {
		return strings.Join(strings.Fields(err.Error()), " ")
	}
	return ""
}
