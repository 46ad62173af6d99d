// Package mutations is the corpus of real-world mistakes (and harmless changes) the harness is judged on: each
// case is a small edit of this repository, taken from a public issue thread, applied to a fresh copy and run
// through `harness check`'s steps on the default path. `make mutations` prints the table and the catch rate.
package mutations

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Case is one edit of the repository.
type Case struct {
	ID    string `yaml:"id"`
	Layer string `yaml:"layer"`
	// Source is the public issue the mistake comes from: owner/repo#number.
	Source string `yaml:"source"`
	Title  string `yaml:"title"`
	// Mistake: the edit breaks the platform on EKS (must be caught); false: harmless (must pass).
	Mistake bool   `yaml:"mistake"`
	OnEKS   string `yaml:"onEKS"`
	// Expect are the checks that should fail (any of them); empty for a harmless change.
	Expect []string `yaml:"expect"`
	// Missed, for a mistake, says why the harness does not catch it yet: a known miss stays in the corpus (the catch
	// rate counts it as missed) until a check catches it, when the marker must go (TestCorpusStaticPhase).
	Missed string `yaml:"missed"`
	Edits  []Edit `yaml:"edits"`
	// File and Line say where the case is written (set by Load).
	File string `yaml:"-"`
	Line int    `yaml:"-"`
}

// Edit replaces Old, which must occur exactly once in File, with New.
type Edit struct {
	File string `yaml:"file"`
	Old  string `yaml:"old"`
	New  string `yaml:"new"`
}

var sourceRe = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+#[0-9]+$`)

// Load reads every cases/*.yaml under dir. A case without an id, a source of the form owner/repo#number, a
// title, edits, or (for a mistake) an expected check is an error naming the file and line.
func Load(dir string) ([]Case, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var out []Case
	seen := map[string]string{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var doc yaml.Node
		if err := yaml.Unmarshal(data, &doc); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		if len(doc.Content) == 0 {
			continue
		}
		list := doc.Content[0]
		if list.Kind != yaml.SequenceNode {
			return nil, fmt.Errorf("%s:%d: a list of cases expected", f, list.Line)
		}
		for _, n := range list.Content {
			var c Case
			dec := yaml.NewDecoder(bytes.NewReader(mustEncode(n)))
			dec.KnownFields(true)
			if err := dec.Decode(&c); err != nil {
				return nil, fmt.Errorf("%s:%d: %w", f, n.Line, err)
			}
			c.File, c.Line = f, n.Line
			where := fmt.Sprintf("%s:%d", f, n.Line)
			switch {
			case c.ID == "":
				return nil, fmt.Errorf("%s: id: missing", where)
			case seen[c.ID] != "":
				return nil, fmt.Errorf("%s: id: %q already used at %s", where, c.ID, seen[c.ID])
			case !sourceRe.MatchString(c.Source):
				return nil, fmt.Errorf("%s: source: %q is not owner/repo#number", where, c.Source)
			case c.Title == "":
				return nil, fmt.Errorf("%s: title: missing", where)
			case len(c.Edits) == 0:
				return nil, fmt.Errorf("%s: edits: none", where)
			case c.Mistake && len(c.Expect) == 0:
				return nil, fmt.Errorf("%s: expect: a mistake names the check(s) that must catch it", where)
			case !c.Mistake && len(c.Expect) > 0:
				return nil, fmt.Errorf("%s: expect: a harmless change expects no failure", where)
			case !c.Mistake && c.Missed != "":
				return nil, fmt.Errorf("%s: missed: only a mistake can be a known miss", where)
			}
			for i, e := range c.Edits {
				if e.File == "" || e.Old == "" {
					return nil, fmt.Errorf("%s: edits[%d]: file and old are required", where, i)
				}
			}
			seen[c.ID] = where
			out = append(out, c)
		}
	}
	return out, nil
}

func mustEncode(n *yaml.Node) []byte {
	data, err := yaml.Marshal(n)
	if err != nil {
		panic(err)
	}
	return data
}

// Apply copies the platform's artifacts (terraform/, helm/, workflows/) from root into dir and applies the
// case's edits there. An edit whose old text is not in its file exactly once is an error naming the case.
func (c Case) Apply(root, dir string) error {
	for _, d := range []string{"terraform", "helm", "workflows"} {
		if err := os.CopyFS(filepath.Join(dir, d), os.DirFS(filepath.Join(root, d))); err != nil {
			return err
		}
	}
	for i, e := range c.Edits {
		p := filepath.Join(dir, e.File)
		data, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("%s:%d: case %s: edits[%d]: %w", c.File, c.Line, c.ID, i, err)
		}
		if n := strings.Count(string(data), e.Old); n != 1 {
			return fmt.Errorf("%s:%d: case %s: edits[%d]: the old text occurs %d times in %s (once expected): the repository changed; update the case", c.File, c.Line, c.ID, i, n, e.File)
		}
		if err := os.WriteFile(p, []byte(strings.Replace(string(data), e.Old, e.New, 1)), 0o644); err != nil {
			return err
		}
	}
	return nil
}
