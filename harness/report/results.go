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

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
)

var marks = map[result.Status]string{result.Passed: "✓", result.Failed: "✗", result.Skipped: "-"}

// Progress prints one line for a result: ✓ / ✗ / - (skipped), name, seconds, message.
func Progress(w io.Writer, r result.Result) {
	fmt.Fprintf(w, " %s %s (%.1fs): %s%s\n", marks[r.Status], r.Name, r.Duration.Seconds(), statusWord(r.Status), r.Message)
	if r.Status == result.Failed {
		for _, d := range r.Details {
			fmt.Fprintf(w, "     - %s\n", d)
		}
	}
}

func statusWord(s result.Status) string {
	if s == result.Skipped {
		return "skipped: "
	}
	return ""
}

// Summary prints a table of results and the counts.
func Summary(w io.Writer, rs []result.Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tSTATUS\tSECONDS\tMESSAGE")
	counts := map[result.Status]int{}
	for _, r := range rs {
		counts[r.Status]++
		fmt.Fprintf(tw, "%s\t%s\t%.1f\t%s\n", r.Name, r.Status, r.Duration.Seconds(), r.Message)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "%d passed, %d failed, %d skipped\n", counts[result.Passed], counts[result.Failed], counts[result.Skipped])
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
func JUnit(path, suite string, rs []result.Result) error {
	s := junitSuite{Name: suite, Tests: len(rs)}
	var total time.Duration
	for _, r := range rs {
		total += r.Duration
		c := junitCase{Name: r.Name, Class: suite, Time: fmt.Sprintf("%.3f", r.Duration.Seconds())}
		switch r.Status {
		case result.Failed:
			s.Failures++
			c.Failure = &junitMessage{Message: r.Message, Body: strings.Join(r.Details, "\n")}
		case result.Skipped:
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

// Placement is what the placement picture shows: the cluster's nodes (after any scaling) and where each probe
// pod went.
type Placement struct {
	Nodes []Node
	Pods  []Pod
}

// Node is one node of the cluster.
type Node struct {
	Name, Group string
	GPUs        int64
}

// Pod is one probe pod: the workload it stands for, its node ("" when Pending) and the GPUs it requests.
type Pod struct {
	Workload, Node, Group string
	GPUs                  int64
}

// Markdown writes report.md into dir, and placement.svg when pl has pods.
func Markdown(dir, title string, rs []result.Result, pl *Placement) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n| check | status | seconds | message |\n|---|---|---|---|\n", title)
	for _, r := range rs {
		fmt.Fprintf(&b, "| %s | %s %s | %.1f | %s |\n", r.Name, marks[r.Status], r.Status, r.Duration.Seconds(), strings.ReplaceAll(r.Message, "|", "\\|"))
	}
	for _, r := range rs {
		if len(r.Details) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n## %s (%s)\n\n", r.Name, r.Status)
		for _, d := range r.Details {
			fmt.Fprintf(&b, "- %s\n", d)
		}
	}
	if pl != nil && len(pl.Pods) > 0 {
		rows := byNode(pl)
		fmt.Fprintf(&b, "\n## Placement\n\nProbe pods placed by kube-scheduler, per node group (GPU work must stay on GPU groups).\n\n![placement](placement.svg)\n\n")
		fmt.Fprintf(&b, "| group | node | pods | GPUs used |\n|---|---|---|---|\n")
		for _, n := range rows {
			var pods []string
			for _, p := range n.pods {
				pods = append(pods, p.Workload)
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %d/%d |\n", n.group, n.name, strings.Join(pods, "<br>"), n.gpuUsed, n.gpus)
		}
		if err := os.WriteFile(filepath.Join(dir, "placement.svg"), []byte(svg(title, rows)), 0o644); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(dir, "report.md"), []byte(b.String()), 0o644)
}

const pendingRow = "(pending)"

type nodeRow struct {
	group, name   string
	pods          []Pod
	gpuUsed, gpus int64
}

func byNode(pl *Placement) []nodeRow {
	rows := map[string]*nodeRow{}
	for _, n := range pl.Nodes {
		rows[n.Name] = &nodeRow{group: n.Group, name: n.Name, gpus: n.GPUs}
	}
	for _, p := range pl.Pods {
		key := p.Node
		if key == "" {
			key = pendingRow
		}
		r, ok := rows[key]
		if !ok {
			g := p.Group
			if key == pendingRow {
				g = "-"
			}
			r = &nodeRow{group: g, name: key}
			rows[key] = r
		}
		r.pods = append(r.pods, p)
		if p.Node != "" {
			r.gpuUsed += p.GPUs
		}
	}
	out := make([]nodeRow, 0, len(rows))
	for _, r := range rows {
		sort.Slice(r.pods, func(i, j int) bool { return r.pods[i].Workload < r.pods[j].Workload })
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool {
		if (out[i].name == pendingRow) != (out[j].name == pendingRow) {
			return out[j].name == pendingRow // pending last
		}
		if out[i].group != out[j].group {
			return out[i].group < out[j].group
		}
		return out[i].name < out[j].name
	})
	return out
}

// Colours of the placement picture, by what the pod asks for (not by the node it is on).
var (
	colourGPU     = "#8fd18f"
	colourCPU     = "#d9d9d9"
	colourPending = "#f08f8f"
)

// charW is the advance of one character of the picture's 11px monospace font.
const charW = 6.7

// svg draws a title, a legend and one row per node: the node, its group and GPUs used, then one box per pod,
// coloured by the pod's own GPU request (Pending pods red). Boxes are as wide as the longest label.
func svg(title string, rows []nodeRow) string {
	const rowH, pad, top = 28, 6, 58
	label := func(r nodeRow) string {
		if r.name == pendingRow {
			return "Pending (not placed)"
		}
		return fmt.Sprintf("%s / %s  GPU %d/%d", r.group, r.name, r.gpuUsed, r.gpus)
	}
	labelW, boxChars, maxPods := 0, 10, 1
	for _, r := range rows {
		labelW = max(labelW, len([]rune(label(r))))
		maxPods = max(maxPods, len(r.pods))
		for _, p := range r.pods {
			boxChars = max(boxChars, len([]rune(p.Workload)))
		}
	}
	boxChars = min(boxChars, 60) // longer names are cut at the front, where they repeat the kind
	x0 := int(float64(labelW)*charW) + 20
	boxW := int(float64(boxChars)*charW) + 10
	width := max(x0+maxPods*(boxW+pad)+5, int(float64(len([]rune(title)))*charW*1.3)+20, 520)
	height := top + len(rows)*rowH + 10
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="monospace" font-size="11">`+"\n", width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	fmt.Fprintf(&b, `<text x="5" y="18" font-size="14" font-weight="bold">%s: where the scheduler placed each workload's pods</text>`+"\n", html.EscapeString(title))
	lx := 5
	for _, l := range []struct{ colour, text string }{{colourGPU, "requests nvidia.com/gpu"}, {colourCPU, "requests no GPU"}, {colourPending, "Pending"}} {
		fmt.Fprintf(&b, `<rect x="%d" y="30" width="14" height="14" fill="%s" stroke="#555"/><text x="%d" y="41">%s</text>`+"\n", lx, l.colour, lx+18, l.text)
		lx += 18 + int(float64(len(l.text))*charW) + 20
	}
	for i, r := range rows {
		y := top + i*rowH
		fmt.Fprintf(&b, `<text x="5" y="%d">%s</text>`+"\n", y+16, html.EscapeString(label(r)))
		for j, p := range r.pods {
			colour := colourCPU
			switch {
			case p.Node == "":
				colour = colourPending
			case p.GPUs > 0:
				colour = colourGPU
			}
			x := x0 + j*(boxW+pad)
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="22" fill="%s" stroke="#555"><title>%s</title></rect><text x="%d" y="%d">%s</text>`+"\n",
				x, y+2, boxW, colour, html.EscapeString(p.Workload), x+5, y+17, html.EscapeString(trim(p.Workload, boxChars)))
		}
	}
	b.WriteString("</svg>\n")
	return b.String()
}

func trim(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return "…" + string(r[len(r)-n+1:])
}
