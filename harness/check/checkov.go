package check

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/checkov"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/deploy"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/platform"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
)

// CheckovVenv is where checkov is installed, under the repository root (its own virtualenv: its pins clash with
// moto's).
const CheckovVenv = ".venv-checkov"

// Checkov runs checkov over terraform/ (its terraform framework) and over every manifest the harness renders (its
// kubernetes framework): the platform's own objects and the upstream charts with the platform's values. Every
// finding fails, unless the code skips it with a reason (`#checkov:skip=ID:reason`, a `checkov.io/skip<N>`
// annotation) or, for an upstream chart, helm/checkov-upstream.yaml accepts it with a reason.
func Checkov(ctx context.Context, p *platform.Platform, venv string, charts []ChartObjects, skippedCharts []string) result.Result {
	const name = "policy/checkov"
	t0 := time.Now()
	if venv == "" {
		venv = filepath.Join(p.Root, CheckovVenv)
	}
	bin, err := checkov.Install(ctx, venv)
	if errors.Is(err, checkov.ErrNoPython) {
		return result.Skip(name, "checkov %s needs python3, which is not installed", checkov.Version)
	}
	if err != nil {
		return result.Fail(name, nil, "install checkov %s: %v", checkov.Version, err)
	}
	install := time.Since(t0)
	tf, err := checkov.Scan(ctx, bin, p.Terraform.Dir, "terraform")
	if err != nil {
		return result.Fail(name, nil, "%v", err)
	}
	dir, err := os.MkdirTemp("", "harness-checkov-")
	if err != nil {
		return result.Fail(name, nil, "%v", err)
	}
	defer os.RemoveAll(dir)
	where, err := writeManifests(dir, p, charts)
	if err != nil {
		return result.Fail(name, nil, "%v", err)
	}
	k8s, err := checkov.Scan(ctx, bin, dir, "kubernetes")
	if err != nil {
		return result.Fail(name, nil, "%v", err)
	}
	var v []string
	for _, f := range tf.Failed {
		v = append(v, fmt.Sprintf("%s:%d: %s %s (%s): fix it, or skip it in the code with #checkov:skip=%s:<reason>", filepath.Join(p.Terraform.Dir, f.File), f.Line, f.Check, f.Name, f.Resource, f.Check))
	}
	accepted := 0
	for _, f := range k8s.Failed {
		src := where[f.File]
		if src.chart != "" {
			if _, ok := p.CheckovUpstream[src.chart][f.Check]; ok {
				accepted++
				continue
			}
			if _, ok := p.CheckovUpstream["*"][f.Check]; ok {
				accepted++
				continue
			}
			v = append(v, fmt.Sprintf("%s: %s %s (%s): set it through the chart's values, or accept it with a reason in %s", src.name, f.Check, f.Name, f.Resource, platform.CheckovUpstreamFile))
			continue
		}
		v = append(v, fmt.Sprintf("%s: %s %s (%s): fix it, or annotate the object with checkov.io/skip<N>: %s=<reason>", objectSource(src, f.Resource), f.Check, f.Name, f.Resource, f.Check))
	}
	skipped := tf.Skipped + k8s.Skipped
	if len(v) > 0 {
		r := result.Fail(name, v, "%d finding(s) neither fixed nor skipped with a reason: %s", len(v), v[0])
		r.Message += reused(tf, k8s)
		return r
	}
	r := result.Pass(name, "checkov %s: terraform %d passed; manifests %d passed; %d skipped in the code with a reason, %d upstream chart finding(s) accepted with a reason (%s); installed in %s",
		checkov.Version, tf.Passed, k8s.Passed, skipped, accepted, platform.CheckovUpstreamFile, install.Round(time.Second))
	r.Message += reused(tf, k8s)
	if len(skippedCharts) > 0 {
		// The charts that could not be rendered are the step's separate skipped result (result.SkippedPart).
		var apps []string
		for _, s := range skippedCharts {
			app, _, _ := strings.Cut(s, ":")
			apps = append(apps, app)
		}
		r.Message += fmt.Sprintf("; rendered charts only: %s not rendered, so not scanned (reported apart)", strings.Join(apps, ", "))
	}
	return r
}

// ChartObjects are one upstream chart's rendered objects.
type ChartObjects struct {
	Chart, App string
	Objects    []deploy.Object
}

type origin struct {
	// chart is set for an upstream chart's file.
	chart, name string
	objs        []deploy.Object
}

var unsafe = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// writeManifests writes the platform's own objects (one file per source) and each upstream chart's (one file per
// chart) into dir for checkov; it returns what each file holds.
func writeManifests(dir string, p *platform.Platform, charts []ChartObjects) (map[string]origin, error) {
	out := map[string]origin{}
	bySource := map[string][]deploy.Object{}
	for _, o := range p.Objects {
		bySource[o.Source] = append(bySource[o.Source], o)
	}
	write := func(file string, o origin) error {
		var b strings.Builder
		for _, obj := range o.objs {
			data, err := yaml.Marshal(obj.Object)
			if err != nil {
				return err
			}
			b.WriteString("---\n")
			b.Write(data)
		}
		out[file] = o
		return os.WriteFile(filepath.Join(dir, file), []byte(b.String()), 0o644)
	}
	for src, objs := range bySource {
		if err := write("own-"+unsafe.ReplaceAllString(src, "_")+".yaml", origin{name: src, objs: objs}); err != nil {
			return nil, err
		}
	}
	for _, c := range charts {
		if err := write("chart-"+unsafe.ReplaceAllString(c.App, "_")+".yaml", origin{chart: c.Chart, name: fmt.Sprintf("chart %s (Application %s)", c.Chart, c.App), objs: c.Objects}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// objectSource names where an object of the platform's own came from (template or manifest).
func objectSource(o origin, resource string) string {
	parts := strings.SplitN(resource, ".", 3) // Kind.namespace.name
	for _, obj := range o.objs {
		if len(parts) == 3 && obj.GetKind() == parts[0] && obj.GetName() == parts[2] {
			return obj.Source
		}
	}
	return o.name
}

// reused says which scans are an earlier scan's of identical inputs (checkov.Scan's cache), and when it ran.
func reused(tf, k8s checkov.Report) string {
	var parts []string
	for _, s := range []struct {
		what string
		r    checkov.Report
	}{{"terraform/", tf}, {"the manifests", k8s}} {
		if !s.r.From.IsZero() {
			parts = append(parts, fmt.Sprintf("%s as scanned at %s", s.what, s.r.From.Local().Format("2006-01-02 15:04:05")))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return fmt.Sprintf("; not scanned again, the inputs identical (every file, checkov %s and its configuration): %s (%s)",
		checkov.Version, strings.Join(parts, ", "), checkov.EnvCache+"=none scans every time")
}
