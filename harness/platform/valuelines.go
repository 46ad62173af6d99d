package platform

import (
	"fmt"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"
)

// ValuesFile is one values file of the app-of-apps, kept as YAML nodes so messages can name a key's line.
type ValuesFile struct {
	// Path is relative to the repository root.
	Path string
	Node *yaml.Node
}

// readValuesFiles reads the app-of-apps' values files for env (the chart's defaults, then the environment's).
func readValuesFiles(root, env string) ([]ValuesFile, error) {
	var out []ValuesFile
	for _, rel := range []string{filepath.Join("helm", "platform-app", "values.yaml"), filepath.Join("helm", "values", env+".yaml")} {
		data, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			return nil, err
		}
		var n yaml.Node
		if err := yaml.Unmarshal(data, &n); err != nil {
			return nil, fmt.Errorf("%s: %w", rel, err)
		}
		out = append(out, ValuesFile{Path: rel, Node: &n})
	}
	return out, nil
}

// ValueAt is "file:line" of the key path inside the values the app-of-apps gives the Application of chart
// (applications.<app>.values.<key...> where applications.<app>.source.chart is chart); the environment's file wins, as it
// overrides. Where the key is written nowhere (a default of the app-of-apps), it names the chart's values file.
func (p *Platform) ValueAt(chart string, key []string) string {
	// The Application's key under `applications` is found by its chart (set in the defaults file); the
	// environment files override parts of it under the same key, without repeating the source.
	appKey := ""
	for _, f := range p.ValuesFiles {
		if k := appKeyOf(f.Node, chart); k != "" {
			appKey = k
		}
	}
	found := ""
	for _, f := range p.ValuesFiles {
		if line := valueLine(f.Node, appKey, key); line > 0 {
			found = fmt.Sprintf("%s:%d", f.Path, line)
		}
	}
	if found == "" {
		return filepath.Join("helm", "platform-app", "values.yaml")
	}
	return found
}

// appKeyOf is the key under `applications` whose source.chart is chart.
func appKeyOf(doc *yaml.Node, chart string) string {
	if doc == nil || len(doc.Content) == 0 {
		return ""
	}
	apps := get(doc.Content[0], "applications")
	if apps == nil || apps.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(apps.Content); i += 2 {
		if src := get(get(apps.Content[i+1], "source"), "chart"); src != nil && src.Value == chart {
			return apps.Content[i].Value
		}
	}
	return ""
}

// valueLine is the line of applications.<appKey>.values.<key...> in doc, or 0.
func valueLine(doc *yaml.Node, appKey string, key []string) int {
	if appKey == "" || doc == nil || len(doc.Content) == 0 {
		return 0
	}
	n := get(get(get(doc.Content[0], "applications"), appKey), "values")
	var k *yaml.Node
	for _, part := range key {
		k, n = getKey(n, part)
		if n == nil {
			return 0
		}
	}
	if k != nil {
		return k.Line
	}
	return 0
}

func get(n *yaml.Node, key string) *yaml.Node {
	_, v := getKey(n, key)
	return v
}

func getKey(n *yaml.Node, key string) (*yaml.Node, *yaml.Node) {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i], n.Content[i+1]
		}
	}
	return nil, nil
}
