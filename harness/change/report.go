package change

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
)

// Review is `harness diff`'s reviewer report: what the change does and the verdicts on it.
type Review struct {
	Env, Base, Head string
	Apps            []App
	Moves           []Move
	Replaced        map[string]int
	// Drifts are the Karpenter NodePools whose nodes the change drifts (or whose behaviour it changes).
	Drifts   []Drift
	CostBase Cost
	CostHead Cost
	// ShapeChanged says the change alters the node groups Terraform declares: the cluster ran the base's shape
	// (Terraform applies the new one, not Argo CD); the cost says what the new one costs.
	ShapeChanged bool
	Results      []result.Result
	Took         time.Duration
}

// WriteMarkdown writes the review as diff.md in dir, to paste into a pull request.
func (r Review) WriteMarkdown(dir string) (string, error) {
	var b strings.Builder
	failed := 0
	for _, res := range r.Results {
		if res.Status == result.Failed {
			failed++
		}
	}
	verdict := "✓ the change syncs over its base and every check passes"
	if failed > 0 {
		verdict = fmt.Sprintf("✗ %d check(s) failed", failed)
	}
	fmt.Fprintf(&b, "# harness diff --env %s: %s → %s\n\n**%s** (%s on an embedded EKS-shaped cluster: Argo CD synced the base, then the change over it).\n\n",
		r.Env, short(r.Base), r.Head, verdict, r.Took.Round(time.Second))
	fmt.Fprintf(&b, "## Cost\n\n| | $/h at desired size | $/h at max size |\n|---|---|---|\n")
	fmt.Fprintf(&b, "| base | %.2f | %.2f |\n| change | %.2f | %.2f |\n| delta | %+.2f | %+.2f |\n\n", r.CostBase.Desired, r.CostBase.Max,
		r.CostHead.Desired, r.CostHead.Max, r.CostHead.Desired-r.CostBase.Desired, r.CostHead.Max-r.CostBase.Max)
	if r.ShapeChanged {
		fmt.Fprintf(&b, "The change alters the node groups (base: %s; change: %s). The cluster ran the base's: Terraform, not Argo CD, applies node groups.\n\n",
			strings.Join(r.CostBase.Groups, ", "), strings.Join(r.CostHead.Groups, ", "))
	}
	fmt.Fprintf(&b, "## Objects, per Application\n\n")
	if len(r.Apps) == 0 {
		fmt.Fprintf(&b, "No rendered object changes.\n\n")
	}
	for _, a := range r.Apps {
		fmt.Fprintf(&b, "### %s: %d added, %d changed, %d removed\n\n", a.Name, len(a.Added), len(a.Changed), len(a.Removed))
		for _, k := range a.Added {
			fmt.Fprintf(&b, "- added `%s`\n", k)
		}
		for _, k := range a.Removed {
			fmt.Fprintf(&b, "- removed `%s`\n", k)
		}
		for _, k := range a.Changed {
			fmt.Fprintf(&b, "- changed `%s`\n", k)
		}
		for _, k := range a.Changed {
			fmt.Fprintf(&b, "\n<details><summary>%s</summary>\n\n```diff\n%s\n```\n</details>\n", k, a.Diffs[k])
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "## Placement\n\n")
	if len(r.Moves) == 0 {
		fmt.Fprintf(&b, "No workload's pods changed node group.\n\n")
	} else {
		fmt.Fprintf(&b, "| workload | before | after |\n|---|---|---|\n")
		for _, m := range r.Moves {
			fmt.Fprintf(&b, "| %s | %s | %s |\n", m.Workload, orNone(m.Before), orNone(m.After))
		}
		b.WriteString("\n")
	}
	if len(r.Replaced) > 0 {
		fmt.Fprintf(&b, "Pods replaced by the sync (deleted, recreated or rolled), per workload:\n\n")
		for _, w := range slices.Sorted(maps.Keys(r.Replaced)) {
			fmt.Fprintf(&b, "- %s: %d\n", w, r.Replaced[w])
		}
		b.WriteString("\n")
	}
	if len(r.Drifts) > 0 {
		fmt.Fprintf(&b, "## Karpenter\n\n")
		for _, d := range r.Drifts {
			fmt.Fprintf(&b, "- %s\n", d.Describe())
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "## Verdicts\n\n| check | status | message |\n|---|---|---|\n")
	for _, res := range r.Results {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", res.Name, res.Status, strings.ReplaceAll(res.Message, "|", "\\|"))
	}
	for _, res := range r.Results {
		if res.Status != result.Failed || len(res.Details) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n### %s\n\n", res.Name)
		for _, d := range res.Details {
			fmt.Fprintf(&b, "- %s\n", d)
		}
	}
	path := filepath.Join(dir, "diff.md")
	return path, os.WriteFile(path, []byte(b.String()), 0o644)
}

func short(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}

func orNone(gs []string) string {
	if len(gs) == 0 {
		return "(none)"
	}
	return strings.Join(gs, ", ")
}
