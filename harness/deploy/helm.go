package deploy

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	"helm.sh/helm/v3/pkg/releaseutil"
	"sigs.k8s.io/yaml"
)

// Release names one rendering of a chart.
type Release struct {
	Name      string
	Namespace string
	// KubeVersion is the Kubernetes version the chart is rendered for (.Capabilities.KubeVersion: "1.35" or
	// "v1.35.4"), as Helm and Argo CD render against the cluster's version. Empty: Helm's compiled-in default
	// (v1.20), which makes charts that choose an API by version pick ones EKS no longer serves.
	KubeVersion string
}

// Capabilities are what a chart sees at render time for rel: Helm's defaults with rel's Kubernetes version.
func Capabilities(rel Release) (*chartutil.Capabilities, error) {
	caps := chartutil.DefaultCapabilities.Copy()
	if rel.KubeVersion == "" {
		return caps, nil
	}
	v := rel.KubeVersion
	if !strings.HasPrefix(v, "v") {
		v = "v" + v
	}
	if strings.Count(v, ".") == 1 {
		v += ".0"
	}
	kv, err := chartutil.ParseKubeVersion(v)
	if err != nil {
		return nil, fmt.Errorf("kubernetes version %q: %w", rel.KubeVersion, err)
	}
	caps.KubeVersion = *kv
	return caps, nil
}

// Render renders the chart in dir with valueFiles merged in order over the chart's defaults, then values on top
// (values may be nil). A values problem names the file and the key; templates are rendered as `helm template`.
func Render(dir string, rel Release, valueFiles []string, values map[string]any) ([]Object, error) {
	ch, err := loader.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("load chart %s: %w", dir, err)
	}
	vals := map[string]any{}
	for _, f := range valueFiles {
		fv, err := readValues(f)
		if err != nil {
			return nil, err
		}
		if err := chartutil.ValidateAgainstSchema(ch, chartutil.CoalesceTables(copyMap(fv), ch.Values)); err != nil {
			return nil, fmt.Errorf("values file %s: %w", f, err)
		}
		vals = chartutil.CoalesceTables(fv, vals)
	}
	if values != nil {
		vals = chartutil.CoalesceTables(copyMap(values), vals)
	}
	// As `helm template`/install: subcharts whose condition or tags are off are dropped, and enabled ones get
	// their share of the values.
	if err := chartutil.ProcessDependenciesWithMerge(ch, vals); err != nil {
		return nil, fmt.Errorf("dependencies of %s: %w", dir, err)
	}
	caps, err := Capabilities(rel)
	if err != nil {
		return nil, err
	}
	rv, err := chartutil.ToRenderValues(ch, vals, chartutil.ReleaseOptions{Name: rel.Name, Namespace: rel.Namespace, IsInstall: true}, caps)
	if err != nil {
		return nil, fmt.Errorf("values for %s: %w", dir, err)
	}
	files, err := engine.Render(ch, rv)
	if err != nil {
		return nil, fmt.Errorf("render %s: %w", dir, err)
	}
	return parseRendered(ch, files)
}

func parseRendered(ch *chart.Chart, files map[string]string) ([]Object, error) {
	names := make([]string, 0, len(files))
	for name := range files {
		if strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml") {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var out []Object
	for _, name := range names {
		docs := releaseutil.SplitManifests(files[name])
		keys := make([]string, 0, len(docs))
		for k := range docs {
			keys = append(keys, k)
		}
		sort.Sort(releaseutil.BySplitManifestsOrder(keys))
		for _, k := range keys {
			objs, err := Decode(strings.TrimPrefix(name, ch.Name()+"/"), []byte(docs[k]))
			if err != nil {
				return nil, err
			}
			out = append(out, objs...)
		}
	}
	return out, nil
}

func readValues(path string) (map[string]any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read values: %w", err)
	}
	v := map[string]any{}
	if err := yaml.UnmarshalStrict(data, &v); err != nil {
		return nil, fmt.Errorf("values file %s: %w", path, err)
	}
	return v, nil
}

func copyMap(m map[string]any) map[string]any {
	data, _ := yaml.Marshal(m)
	out := map[string]any{}
	_ = yaml.Unmarshal(data, &out)
	return out
}

// Lint runs Helm's chart linter with the given values files; any error-level message fails.
func Lint(dir string, valueFiles []string) error {
	vals := map[string]any{}
	for _, f := range valueFiles {
		fv, err := readValues(f)
		if err != nil {
			return err
		}
		vals = chartutil.CoalesceTables(fv, vals)
	}
	res := lint.All(dir, vals, "default", false)
	var errs []error
	for _, m := range res.Messages {
		if m.Severity >= support.ErrorSev {
			errs = append(errs, fmt.Errorf("%s: %w", m.Path, m.Err))
		}
	}
	return errors.Join(errs...)
}

// ChartVersion is the version in the chart's Chart.yaml.
func ChartVersion(dir string) (string, error) {
	ch, err := loader.Load(dir)
	if err != nil {
		return "", fmt.Errorf("load chart %s: %w", dir, err)
	}
	return ch.Metadata.Version, nil
}

// ChartCRDs lists the CustomResourceDefinitions a chart installs — its crds/ directories (subcharts included)
// and any its templates render with values — by name.
func ChartCRDs(dir string, rel Release, values map[string]any) ([]string, error) {
	ch, err := loader.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("load chart %s: %w", dir, err)
	}
	var names []string
	for _, f := range ch.CRDObjects() {
		objs, err := Decode(f.Filename, f.File.Data)
		if err != nil {
			return nil, err
		}
		for _, o := range objs {
			if o.GetKind() == "CustomResourceDefinition" {
				names = append(names, o.GetName())
			}
		}
	}
	objs, err := Render(dir, rel, nil, values)
	if err != nil {
		return nil, err
	}
	for _, o := range objs {
		if o.GetKind() == "CustomResourceDefinition" {
			names = append(names, o.GetName())
		}
	}
	sort.Strings(names)
	return names, nil
}

// freeForm are values keys whose maps hold the user's own keys (Kubernetes labels, annotations, selectors,
// pod-spec fragments, environment): any key below them is accepted. Kept small and explicit.
var freeForm = map[string]bool{
	"annotations": true, "labels": true, "podAnnotations": true, "podLabels": true, "nodeSelector": true,
	"extraArgs": true, "env": true, "extraEnv": true, "extraEnvVars": true, "resources": true, "affinity": true,
	"tolerations": true, "securityContext": true, "podSecurityContext": true, "containerSecurityContext": true,
	"global": true,
}

// UnknownValues lists the keys of values that the chart in dir does not have: every key must exist in the
// chart's default values (subcharts' under their names), except below free-form keys (freeForm) and maps the
// chart leaves empty ({} or null: for the user to fill). A map given where the chart has a scalar or a list,
// or the other way round, is reported too. Each entry is "dotted.key: reason".
func UnknownValues(dir string, values map[string]any) ([]string, error) {
	ch, err := loader.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("load chart %s: %w", dir, err)
	}
	var out []string
	var walk func(path []string, got, def map[string]any, c *chart.Chart)
	walk = func(path []string, got, def map[string]any, c *chart.Chart) {
		keys := make([]string, 0, len(got))
		for k := range got {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := append(append([]string(nil), path...), k)
			key := strings.Join(p, ".")
			if _, declared := def[k]; freeForm[k] && (declared || k == "global") {
				// Below a free-form key the chart takes any key; the key itself must be where the chart has it
				// (a nodeSelector one level too high is ignored).
				continue
			}
			if c != nil && len(path) == 0 {
				if sub := subchart(c, k); sub != nil {
					if m, ok := got[k].(map[string]any); ok {
						walk(p, m, sub.Values, sub)
					}
					continue
				}
			}
			d, ok := def[k]
			if !ok {
				out = append(out, fmt.Sprintf("%s: not a value of chart %s %s (known here: %s)", key, ch.Name(), ch.Metadata.Version, known(def)))
				continue
			}
			gm, gotMap := got[k].(map[string]any)
			dm, defMap := d.(map[string]any)
			switch {
			case d == nil || (defMap && len(dm) == 0):
				// a map (or value) the chart leaves for the user to fill
			case gotMap && defMap:
				walk(p, gm, dm, nil)
			case gotMap != defMap && got[k] != nil:
				out = append(out, fmt.Sprintf("%s: chart %s %s has %s here, the values give %s", key, ch.Name(), ch.Metadata.Version, kind(d), kind(got[k])))
			}
		}
	}
	walk(nil, values, ch.Values, ch)
	return out, nil
}

func subchart(c *chart.Chart, name string) *chart.Chart {
	for _, d := range c.Dependencies() {
		if d.Name() == name {
			return d
		}
	}
	for _, d := range c.Metadata.Dependencies {
		if d.Alias == name || d.Name == name {
			for _, sc := range c.Dependencies() {
				if sc.Name() == d.Name {
					return sc
				}
			}
		}
	}
	return nil
}

func known(def map[string]any) string {
	keys := make([]string, 0, len(def))
	for k := range def {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) > 12 {
		keys = append(keys[:12], "...")
	}
	return strings.Join(keys, ", ")
}

func kind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "a map"
	case []any:
		return "a list"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return "a number"
}

// MergedValues are the values a chart renders with: values over the chart's defaults (subcharts' defaults
// included under their names), as Helm coalesces them.
func MergedValues(dir string, values map[string]any) (map[string]any, error) {
	ch, err := loader.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("load chart %s: %w", dir, err)
	}
	return chartutil.CoalesceValues(ch, copyMap(values))
}
