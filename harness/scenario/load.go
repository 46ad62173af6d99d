package scenario

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// Load reads and validates a scenario file. Decoding is strict: an unknown field is an error naming the file
// and line.
func Load(path string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read scenario: %w", err)
	}
	var node yaml.Node
	if err := yaml.Unmarshal(data, &node); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var s Scenario
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	s.File = path
	s.lines = keyLines(&node)
	stepLines(&node, &s)
	if err := s.validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// stepLines records each step's line for error messages.
func stepLines(doc *yaml.Node, s *Scenario) {
	if len(doc.Content) == 0 {
		return
	}
	spec := child(doc.Content[0], "spec")
	steps := child(spec, "steps")
	if steps == nil {
		return
	}
	for i, n := range steps.Content {
		if i < len(s.Spec.Steps) {
			s.Spec.Steps[i].line = n.Line
		}
	}
}

// keyLines records the line of each top-level and metadata/spec key (apiVersion, kind, metadata.name,
// spec.environment, ...), so validation errors point at the key, not at line 1.
func keyLines(doc *yaml.Node) map[string]int {
	out := map[string]int{}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return out
	}
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		k := root.Content[i]
		out[k.Value] = k.Line
		if v := root.Content[i+1]; v.Kind == yaml.MappingNode {
			for j := 0; j+1 < len(v.Content); j += 2 {
				out[k.Value+"."+v.Content[j].Value] = v.Content[j].Line
			}
		}
	}
	return out
}

// line is the line of a key, or of its nearest parent that is written, or 1.
func (s *Scenario) line(key string) int {
	for k := key; k != ""; {
		if l, ok := s.lines[k]; ok {
			return l
		}
		i := strings.LastIndexByte(k, '.')
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return 1
}

func child(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func (s *Scenario) validate() error {
	bad := func(line int, field, format string, args ...any) error {
		return fmt.Errorf("%s:%d: %s: %s", s.File, line, field, fmt.Sprintf(format, args...))
	}
	switch {
	case s.APIVersion != APIVersion:
		return bad(s.line("apiVersion"), "apiVersion", "%q, want %q", s.APIVersion, APIVersion)
	case s.Kind != Kind:
		return bad(s.line("kind"), "kind", "%q, want %q", s.Kind, Kind)
	case s.Metadata.Name == "":
		return bad(s.line("metadata.name"), "metadata.name", "required")
	case s.Spec.Environment == "":
		return bad(s.line("spec.environment"), "spec.environment", "required")
	case len(s.Spec.Steps) == 0:
		return bad(s.line("spec.steps"), "spec.steps", "at least one step is required")
	}
	var errs []error
	for i, st := range s.Spec.Steps {
		n := 0
		for _, set := range []bool{st.Deploy != nil, st.Apply != nil, st.ScaleNodeGroup != nil, st.LoseNode != nil, st.NightScaleDown != nil, st.RollNodeGroup != nil, st.UpgradeControlPlane != nil} {
			if set {
				n++
			}
		}
		field := fmt.Sprintf("spec.steps[%d]", i)
		if n != 1 && !(n == 0 && st.Expect != nil) {
			errs = append(errs, bad(st.line, field, "needs exactly one of deploy, apply, scaleNodeGroup, loseNode, nightScaleDown, rollNodeGroup, upgradeControlPlane (or only expect); has %d", n))
		}
		if st.ScaleNodeGroup != nil && (st.ScaleNodeGroup.Group == "" || st.ScaleNodeGroup.Size < 0) {
			errs = append(errs, bad(st.line, field+".scaleNodeGroup", "group is required and size must be >= 0"))
		}
		if st.LoseNode != nil && st.LoseNode.Node == "" {
			errs = append(errs, bad(st.line, field+".loseNode.node", "required"))
		}
		if st.RollNodeGroup != nil && st.RollNodeGroup.Group == "" {
			errs = append(errs, bad(st.line, field+".rollNodeGroup.group", "required"))
		}
		if st.RollNodeGroup != nil && st.RollNodeGroup.ExpectBlockedBy != "" && !strings.Contains(st.RollNodeGroup.ExpectBlockedBy, "/") {
			errs = append(errs, bad(st.line, field+".rollNodeGroup.expectBlockedBy", "%q: want namespace/name of a PodDisruptionBudget", st.RollNodeGroup.ExpectBlockedBy))
		}
		if st.Expect != nil && (st.Expect.WithinSeconds < 0 || st.Expect.WithinSeconds > 600) {
			errs = append(errs, bad(st.line, field+".expect.withinSeconds", "%d: want 1..600 (unset: 60)", st.Expect.WithinSeconds))
		}
		if st.Expect != nil && len(st.Expect.NodePoolNodes) > 0 && !s.Spec.Karpenter {
			errs = append(errs, bad(st.line, field+".expect.nodePoolNodes", "counts nodes Karpenter launched: set spec.karpenter: true"))
		}
		if st.NightScaleDown != nil && len(st.NightScaleDown.Namespaces) == 0 {
			errs = append(errs, bad(st.line, field+".nightScaleDown.namespaces", "at least one namespace"))
		}
	}
	return errors.Join(errs...)
}
