package report

import (
	"encoding/xml"
	"fmt"
	"html"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/check"
)

var marks = map[check.Status]string{check.Passed: "✓", check.Failed: "✗", check.Skipped: "-"}

// Progress prints one line for a result: ✓ / ✗ / - (skipped), name, seconds, message.
func Progress(w io.Writer, r check.Result) {
	fmt.Fprintf(w, " %s %s (%.1fs): %s%s\n", marks[r.Status], r.Name, r.Duration.Seconds(), statusWord(r.Status), r.Message)
	if r.Status == check.Failed {
		for _, d := range r.Details {
			fmt.Fprintf(w, "     - %s\n", d)
		}
	}
}

func statusWord(s check.Status) string {
	if s == check.Skipped {
		return "skipped: "
	}
	return ""
}

// Summary prints a table of results and the counts.
func Summary(w io.Writer, rs []check.Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tSTATUS\tSECONDS\tMESSAGE")
	counts := map[check.Status]int{}
	for _, r := range rs {
		counts[r.Status]++
		fmt.Fprintf(tw, "%s\t%s\t%.1f\t%s\n", r.Name, r.Status, r.Duration.Seconds(), r.Message)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "%d passed, %d failed, %d skipped\n", counts[check.Passed], counts[check.Failed], counts[check.Skipped])
}

type junitSuite struct {
	XMLName  xml.Name    `xml:"testsuite"`
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name    string        `xml:"name,attr"`
	Class   string        `xml:"classname,attr"`
	Time    string        `xml:"time,attr"`
	Failure *junitMessage `xml:"failure,omitempty"`
	Skipped *junitMessage `xml:"skipped,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Body    string `xml:",chardata"`
}

// JUnit writes the results as a JUnit XML test suite, for CI.
func JUnit(path, suite string, rs []check.Result) error {
	s := junitSuite{Name: suite, Tests: len(rs)}
	var total time.Duration
	for _, r := range rs {
		total += r.Duration
		c := junitCase{Name: r.Name, Class: suite, Time: fmt.Sprintf("%.3f", r.Duration.Seconds())}
		switch r.Status {
		case check.Failed:
			s.Failures++
			c.Failure = &junitMessage{Message: r.Message, Body: strings.Join(r.Details, "\n")}
		case check.Skipped:
			s.Skipped++
			c.Skipped = &junitMessage{Message: r.Message}
		}
		s.Cases = append(s.Cases, c)
	}
	s.Time = fmt.Sprintf("%.3f", total.Seconds())
	data, err := xml.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append([]byte(xml.Header), data...), 0o644)
}

// Markdown writes report.md and placement.svg into dir.
func Markdown(dir, title string, o *check.Outcome) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n| check | status | seconds | message |\n|---|---|---|---|\n", title)
	for _, r := range o.Results {
		fmt.Fprintf(&b, "| %s | %s %s | %.1f | %s |\n", r.Name, marks[r.Status], r.Status, r.Duration.Seconds(), strings.ReplaceAll(r.Message, "|", "\\|"))
	}
	for _, r := range o.Results {
		if len(r.Details) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n## %s (%s)\n\n", r.Name, r.Status)
		for _, d := range r.Details {
			fmt.Fprintf(&b, "- %s\n", d)
		}
	}
	if len(o.Placements) > 0 {
		fmt.Fprintf(&b, "\n## Placement\n\nProbe pods placed by kube-scheduler, per node group (GPU work must stay on GPU groups).\n\n![placement](placement.svg)\n\n")
		fmt.Fprintf(&b, "| group | node | pods | GPUs used |\n|---|---|---|---|\n")
		for _, n := range byNode(o) {
			fmt.Fprintf(&b, "| %s | %s | %s | %d/%d |\n", n.group, n.name, strings.Join(n.pods, "<br>"), n.gpuUsed, n.gpus)
		}
		if err := os.WriteFile(filepath.Join(dir, "placement.svg"), []byte(svg(byNode(o))), 0o644); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(dir, "report.md"), []byte(b.String()), 0o644)
}

type nodeRow struct {
	group, name   string
	pods          []string
	gpuUsed, gpus int64
}

func byNode(o *check.Outcome) []nodeRow {
	rows := map[string]*nodeRow{}
	for _, n := range o.Platform.Shape.Nodes() {
		rows[n.Name] = &nodeRow{group: n.Group, name: n.Name, gpus: int64(n.Instance.GPUs)}
	}
	for _, pl := range o.Placements {
		key := pl.Node
		if key == "" {
			key = "(pending)"
		}
		r, ok := rows[key]
		if !ok {
			g := pl.Group
			if key == "(pending)" {
				g = "-"
			}
			r = &nodeRow{group: g, name: key}
			if grp, ok := o.Platform.Shape.Group(pl.Group); ok && pl.Node != "" {
				r.gpus = int64(grp.Instance.GPUs)
			}
			rows[key] = r
		}
		r.pods = append(r.pods, pl.Workload.Name)
		if pl.Node != "" {
			r.gpuUsed += pl.Workload.GPUs()
		}
	}
	out := make([]nodeRow, 0, len(rows))
	for _, r := range rows {
		sort.Strings(r.pods)
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].group != out[j].group {
			return out[i].group < out[j].group
		}
		return out[i].name < out[j].name
	})
	return out
}

// svg draws one row per node: the node, its group, a box per pod (GPU pods green, others grey).
func svg(rows []nodeRow) string {
	const rowH, boxW = 28, 230
	width := 260
	for _, r := range rows {
		width = max(width, 260+len(r.pods)*(boxW+6))
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="monospace" font-size="11">`+"\n", width, len(rows)*rowH+10)
	for i, r := range rows {
		y := 5 + i*rowH
		fmt.Fprintf(&b, `<text x="5" y="%d">%s %s (GPU %d/%d)</text>`+"\n", y+16, html.EscapeString(r.group), html.EscapeString(r.name), r.gpuUsed, r.gpus)
		for j, p := range r.pods {
			color := "#ddd"
			if r.gpus > 0 {
				color = "#9d9"
			}
			if r.name == "(pending)" {
				color = "#f99"
			}
			x := 250 + j*(boxW+6)
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="22" fill="%s"/><text x="%d" y="%d">%s</text>`+"\n",
				x, y+2, boxW, color, x+4, y+17, html.EscapeString(trim(p, 36)))
		}
	}
	b.WriteString("</svg>\n")
	return b.String()
}

func trim(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n+1:]
}
