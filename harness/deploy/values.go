package deploy

import (
	"fmt"
	"sort"
	"strings"
)

// ValueProblem is one key of an Application's values the chart does not take.
type ValueProblem struct {
	// Key is the dotted path under the Application's values.
	Key string
	// Reason says what is wrong ("not a value of chart x 1.2 (known here: ...)", "chart x has a map here, ...").
	Reason string
}

// UnusedValues lists the keys of values that the chart in dir does not take. A key the chart's default values
// (or a subchart's) declare is taken. A key they do not declare is judged by Helm's own renderer, as Argo CD and
// Helm would use it: the chart is rendered with the values as given, without the key, and with the key's value
// changed; a key whose removal and change leave every rendered manifest identical has no effect (a misspelling,
// a key of another chart version, a key at the wrong level), and is reported. A key the templates read although
// values.yaml does not list it (an upstream-accepted spelling or an undocumented value) is not reported. unsure
// lists keys no verdict could be reached for (the chart renders differently each time), with why.
func UnusedValues(dir string, rel Release, values map[string]any) (bad []ValueProblem, unsure []string, err error) {
	candidates, err := UnknownValues(dir, values)
	if err != nil {
		return nil, nil, err
	}
	if len(candidates) == 0 {
		return nil, nil, nil
	}
	render := func(v map[string]any) (string, error) {
		objs, err := Render(dir, rel, nil, v)
		if err != nil {
			return "", err
		}
		var b strings.Builder
		for _, o := range objs {
			data, err := o.MarshalJSON()
			if err != nil {
				return "", err
			}
			b.Write(data)
			b.WriteByte('\n')
		}
		return b.String(), nil
	}
	base, err := render(values)
	if err != nil {
		return nil, nil, err
	}
	again, err := render(values)
	if err != nil {
		return nil, nil, err
	}
	deterministic := base == again
	for _, c := range candidates {
		key, reason, _ := strings.Cut(c, ": ")
		if !strings.HasPrefix(reason, "not a value of chart") {
			// A map where the chart has a scalar or a list (or the other way round): the template misreads it.
			bad = append(bad, ValueProblem{Key: key, Reason: reason})
			continue
		}
		if !deterministic {
			unsure = append(unsure, fmt.Sprintf("%s: %s; whether the templates read it cannot be told (the chart renders differently each time)", key, reason))
			continue
		}
		path := strings.Split(key, ".")
		used := false
		for _, variant := range variants(values, path) {
			out, err := render(variant)
			if err != nil || out != base {
				// The chart reads the key: leaving it out or changing it changes (or breaks) the manifests.
				used = true
				break
			}
		}
		if !used {
			bad = append(bad, ValueProblem{Key: key, Reason: reason + "; the rendered manifests are identical without it and with another value: Helm and Argo CD ignore it"})
		}
	}
	return bad, unsure, nil
}

// variants are copies of values with the key at path removed, then with each leaf below it (at most 8) changed.
func variants(values map[string]any, path []string) []map[string]any {
	var out []map[string]any
	removed := deepCopy(values).(map[string]any)
	if parent := at(removed, path[:len(path)-1]); parent != nil {
		delete(parent, path[len(path)-1])
		out = append(out, removed)
	}
	for _, leaf := range leaves(at(values, path[:len(path)-1])[path[len(path)-1]], path, 8) {
		v := deepCopy(values).(map[string]any)
		parent := at(v, leaf[:len(leaf)-1])
		if parent == nil {
			continue
		}
		parent[leaf[len(leaf)-1]] = changed(parent[leaf[len(leaf)-1]])
		out = append(out, v)
	}
	return out
}

// leaves are the paths of the scalar values at and below v (v at path).
func leaves(v any, path []string, max int) [][]string {
	m, ok := v.(map[string]any)
	if !ok {
		return [][]string{path}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out [][]string
	for _, k := range keys {
		for _, l := range leaves(m[k], append(append([]string{}, path...), k), max-len(out)) {
			if len(out) >= max {
				return out
			}
			out = append(out, l)
		}
	}
	if len(keys) == 0 {
		out = append(out, path)
	}
	return out
}

// changed is another value of v's type (a boolean flipped, a number moved, a string altered).
func changed(v any) any {
	switch x := v.(type) {
	case bool:
		return !x
	case string:
		return x + "-changed"
	case float64:
		return x + 7
	case int:
		return x + 7
	case int64:
		return x + 7
	case []any:
		if len(x) == 0 {
			return []any{"changed"}
		}
		return []any{}
	case map[string]any:
		if len(x) == 0 {
			return map[string]any{"changed": "changed"}
		}
		return map[string]any{}
	case nil:
		return "changed"
	}
	return fmt.Sprintf("%v-changed", v)
}

func at(m map[string]any, path []string) map[string]any {
	for _, k := range path {
		next, ok := m[k].(map[string]any)
		if !ok {
			return nil
		}
		m = next
	}
	return m
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = deepCopy(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = deepCopy(e)
		}
		return out
	}
	return v
}
