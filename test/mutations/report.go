package mutations

import (
	"fmt"
	"io"
	"strings"
)

// Summary counts a run of the corpus.
type Summary struct {
	Mistakes, Caught, CaughtAsExpected, Harmless, FalseAlarms, Errors int
}

// Summarize counts outcomes.
func Summarize(os []Outcome) Summary {
	var s Summary
	for _, o := range os {
		switch {
		case o.Err != nil:
			s.Errors++
		case o.Case.Mistake:
			s.Mistakes++
			if o.Caught() {
				s.Caught++
				if o.Expected() {
					s.CaughtAsExpected++
				}
			}
		default:
			s.Harmless++
			if o.Caught() {
				s.FalseAlarms++
			}
		}
	}
	return s
}

// Rate is the catch rate in percent.
func (s Summary) Rate() float64 {
	if s.Mistakes == 0 {
		return 0
	}
	return 100 * float64(s.Caught) / float64(s.Mistakes)
}

func (s Summary) String() string {
	return fmt.Sprintf("%d of %d mistakes caught (%.0f%%; %d by the check the case names), %d of %d harmless changes failed (false alarms), %d case(s) could not run",
		s.Caught, s.Mistakes, s.Rate(), s.CaughtAsExpected, s.FalseAlarms, s.Harmless, s.Errors)
}

// Markdown writes the table of outcomes and the summary.
func Markdown(w io.Writer, os []Outcome) {
	fmt.Fprintf(w, "# Mutation corpus: real-world mistakes on the default path\n\n")
	fmt.Fprintf(w, "%s\n\n", Summarize(os))
	fmt.Fprintf(w, "| case | layer | from | verdict | caught by | expected | seconds |\n|---|---|---|---|---|---|---|\n")
	for _, o := range os {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %.1f |\n", o.Case.ID, o.Case.Layer, o.Case.Source, verdict(o), cell(by(o)), strings.Join(o.Case.Expect, ", "), o.Duration.Seconds())
	}
	fmt.Fprintf(w, "\n## Details\n\n")
	for _, o := range os {
		fmt.Fprintf(w, "### %s — %s\n\n%s \"%s\". On EKS: %s\n\n", o.Case.ID, verdict(o), o.Case.Source, o.Case.Title, o.Case.OnEKS)
		if o.Err != nil {
			fmt.Fprintf(w, "- could not run: %s\n", cell(o.Err.Error()))
		}
		if o.Case.Missed != "" {
			fmt.Fprintf(w, "- known miss: %s\n", cell(o.Case.Missed))
		}
		for _, f := range o.Failed {
			fmt.Fprintf(w, "- %s failed: %s\n", f.Check, cell(f.Message))
		}
		fmt.Fprintln(w)
	}
}

// Text writes the table for a terminal.
func Text(w io.Writer, os []Outcome) {
	for _, o := range os {
		Row(w, o)
	}
	fmt.Fprintln(w, Summarize(os))
}

// Row writes one outcome's line.
func Row(w io.Writer, o Outcome) {
	fmt.Fprintf(w, "%-44s %-11s %-30s %6.1fs  %s\n", o.Case.ID, verdict(o), trunc(by(o), 30), o.Duration.Seconds(), trunc(o.Case.Source, 40))
	if o.Err != nil {
		fmt.Fprintf(w, "    could not run: %v\n", o.Err)
	}
}

func verdict(o Outcome) string {
	switch {
	case o.Err != nil:
		return "error"
	case o.Case.Mistake && o.Caught():
		return "caught"
	case o.Case.Mistake:
		return "MISSED"
	case o.Caught():
		return "FALSE ALARM"
	}
	return "passed"
}

func by(o Outcome) string {
	var names []string
	for _, f := range o.Failed {
		names = append(names, f.Check)
	}
	return strings.Join(names, ", ")
}

func cell(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "|", "\\|"), "\n", " ") }

func trunc(s string, n int) string {
	if len(s) > n {
		return s[:n-1] + "…"
	}
	return s
}
