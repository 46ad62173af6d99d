// Package change describes what a change of the repository does, for `harness diff`'s reviewer report: per
// Application the objects it adds, changes and removes (rendered as Argo CD renders them), which workloads'
// pods move between node groups on the cluster, and the cost at desired and at max size before and after. It
// describes; the verdicts on the transition are package check's (check.Transition).
package change

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
	"sigs.k8s.io/yaml"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/deploy"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/engine"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/platform"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/shape"
)

// Manifests are an environment's objects per Application, by "Kind namespace/name", as Argo CD renders them.
type Manifests map[string]map[string]deploy.Object

// Collect groups an environment's objects by Application: the in-repo charts rendered with their Applications'
// values, the upstream charts as rendered for the deploy, the Applications themselves under "platform-app".
func Collect(p *platform.Platform, rendered []engine.Rendered) (Manifests, error) {
	out := Manifests{}
	put := func(app string, o deploy.Object) {
		if out[app] == nil {
			out[app] = map[string]deploy.Object{}
		}
		out[app][Key(o)] = o
	}
	for _, o := range p.Objects {
		if o.GetKind() == "Application" && o.GetAPIVersion() == "argoproj.io/v1alpha1" {
			put("platform-app", o)
		}
	}
	for _, a := range p.Apps {
		if !a.InRepo(platform.RepoURL) {
			continue
		}
		objs, err := deploy.Render(filepath.Join(p.Root, a.Path), deploy.Release{Name: a.Name, Namespace: a.Namespace, KubeVersion: p.Shape.KubernetesVersion}, nil, a.Values)
		if err != nil {
			return nil, fmt.Errorf("render %s: %w", a.Path, err)
		}
		for _, o := range objs {
			if o.GetNamespace() == "" && deploy.Namespaced(o.GetKind()) {
				o.SetNamespace(a.Namespace)
			}
			put(a.Name, o)
		}
	}
	for _, r := range rendered {
		for _, o := range r.Objects {
			put(r.App.Name, o)
		}
	}
	return out, nil
}

// Key names an object: "Kind namespace/name" (or "Kind name" when cluster-scoped).
func Key(o deploy.Object) string {
	if o.GetNamespace() == "" {
		return o.GetKind() + " " + o.GetName()
	}
	return o.GetKind() + " " + o.GetNamespace() + "/" + o.GetName()
}

// App is what a change does to one Application's objects.
type App struct {
	Name                    string
	Added, Removed, Changed []string
	// Diffs are the changed objects' unified diffs (YAML), by key, cut to MaxDiffLines each.
	Diffs map[string]string
}

// MaxDiffLines bounds one object's diff in the report.
const MaxDiffLines = 40

// Diff compares two environments' manifests, Application by Application (sorted by name; unchanged ones left out).
func Diff(base, head Manifests) []App {
	var out []App
	for _, n := range keysOf(base, head) {
		a := App{Name: n, Diffs: map[string]string{}}
		b, h := base[n], head[n]
		for k, ho := range h {
			bo, ok := b[k]
			if !ok {
				a.Added = append(a.Added, k)
				continue
			}
			if d := unified(bo, ho); d != "" {
				a.Changed = append(a.Changed, k)
				a.Diffs[k] = d
			}
		}
		for k := range b {
			if _, ok := h[k]; !ok {
				a.Removed = append(a.Removed, k)
			}
		}
		if len(a.Added)+len(a.Removed)+len(a.Changed) == 0 {
			continue
		}
		sort.Strings(a.Added)
		sort.Strings(a.Removed)
		sort.Strings(a.Changed)
		out = append(out, a)
	}
	return out
}

func unified(a, b deploy.Object) string {
	ya, _ := yaml.Marshal(a.Object)
	yb, _ := yaml.Marshal(b.Object)
	if string(ya) == string(yb) {
		return ""
	}
	d, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{A: difflib.SplitLines(string(ya)), B: difflib.SplitLines(string(yb)),
		FromFile: "base", ToFile: "change", Context: 2})
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(d, "\n"), "\n")
	if len(lines) > MaxDiffLines {
		lines = append(lines[:MaxDiffLines], fmt.Sprintf("... %d more line(s)", len(lines)-MaxDiffLines))
	}
	return strings.Join(lines, "\n")
}

// Move is a workload whose pods run on other node groups after the change.
type Move struct {
	Workload      string
	Before, After []string
}

// Moves lists the workloads whose pods' node groups differ between two states (a pod not scheduled counts as
// "pending"; a workload present on one side only as none on the other).
func Moves(before, after engine.State) []Move {
	b, a := before.Groups(), after.Groups()
	var out []Move
	for _, k := range keysOf(b, a) {
		if strings.HasPrefix(k, "Pod ") || strings.HasPrefix(k, "Job ") {
			continue // probes and one-off pods: not workloads a change moves
		}
		bg, ag := pending(b[k]), pending(a[k])
		if slices.Equal(uniq(bg), uniq(ag)) {
			continue
		}
		out = append(out, Move{Workload: k, Before: bg, After: ag})
	}
	return out
}

// keysOf are the keys of a and b, sorted, each once.
func keysOf[V any](a, b map[string]V) []string {
	all := slices.Collect(maps.Keys(a))
	all = slices.AppendSeq(all, maps.Keys(b))
	return slices.Compact(slices.Sorted(slices.Values(all)))
}

func pending(gs []string) []string {
	out := make([]string, len(gs))
	for i, g := range gs {
		if g == "" {
			g = "pending"
		}
		out[i] = g
	}
	return out
}

func uniq(gs []string) []string {
	return slices.Compact(slices.Sorted(slices.Values(gs)))
}

// Replaced counts, per workload, the pods of before that are gone after (deleted, evicted or recreated by the
// change's sync), sorted by workload.
func Replaced(before, after engine.State) map[string]int {
	out := map[string]int{}
	for name, p := range before.Pods {
		if q, ok := after.Pods[name]; ok && q.UID == p.UID {
			continue
		}
		if strings.HasPrefix(p.Workload, "Pod ") {
			continue
		}
		out[p.Workload]++
	}
	return out
}

// Cost is an environment's price per hour at the node groups' desired and max size (EKS control plane and NAT
// gateway included), from the catalog.
type Cost struct {
	Desired, Max float64
	Groups       []string
}

// CostOf prices a shape.
func CostOf(s *shape.Shape) Cost {
	c := Cost{Desired: s.HourlyUSD(), Max: shape.EKSControlPlaneUSDPerHour + shape.NATGatewayUSDPerHour}
	for _, g := range s.Groups {
		c.Max += float64(g.MaxSize) * g.Instance.OnDemandUSDPerHour
		c.Groups = append(c.Groups, fmt.Sprintf("%s %d (max %d) x %s", g.Name, g.DesiredSize, g.MaxSize, g.Instance.Name))
	}
	return c
}
