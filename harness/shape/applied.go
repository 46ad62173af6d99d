package shape

import (
	"encoding/json"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
)

// appliedGroup is one entry of the root module's `node_groups` output, as `terraform output -json` gives it.
type appliedGroup struct {
	Name          string            `json:"name"`
	InstanceTypes []string          `json:"instance_types"`
	CapacityType  string            `json:"capacity_type"`
	Labels        map[string]string `json:"labels"`
	Taints        []taintValue      `json:"taints"`
	MinSize       int               `json:"min_size"`
	MaxSize       int               `json:"max_size"`
	DesiredSize   int               `json:"desired_size"`
}

// WithAppliedNodeGroups returns a copy of s whose node groups are the ones an apply produced (the root
// module's `node_groups` output), so the emulated cluster follows what AWS created rather than the static reading.
func (s *Shape) WithAppliedNodeGroups(output any) (*Shape, error) {
	data, err := json.Marshal(output)
	if err != nil {
		return nil, fmt.Errorf("node_groups output: %w", err)
	}
	var groups map[string]appliedGroup
	if err := json.Unmarshal(data, &groups); err != nil {
		return nil, fmt.Errorf("node_groups output: %w", err)
	}
	out := s.Clone()
	out.Groups = nil
	for key, ag := range groups {
		name := ag.Name
		if name == "" {
			name = key
		}
		if len(ag.InstanceTypes) == 0 {
			return nil, fmt.Errorf("node_groups output: group %s has no instance types", name)
		}
		it, err := Lookup(ag.InstanceTypes[0])
		if err != nil {
			return nil, fmt.Errorf("node_groups output: group %s: %w", name, err)
		}
		g := NodeGroup{Name: name, InstanceTypes: ag.InstanceTypes, Instance: it, CapacityType: ag.CapacityType,
			MinSize: ag.MinSize, MaxSize: ag.MaxSize, DesiredSize: ag.DesiredSize, Labels: ag.Labels}
		if prev, ok := s.Group(name); ok {
			g.AMIType, g.DiskSizeGiB, g.Source = prev.AMIType, prev.DiskSizeGiB, prev.Source
		}
		if g.Labels == nil {
			g.Labels = map[string]string{}
		}
		for _, t := range ag.Taints {
			effect, ok := taintEffects[t.Effect]
			if !ok {
				return nil, fmt.Errorf("node_groups output: group %s: taint effect %q", name, t.Effect)
			}
			g.Taints = append(g.Taints, corev1.Taint{Key: t.Key, Value: t.Value, Effect: effect})
		}
		out.Groups = append(out.Groups, g)
	}
	sort.Slice(out.Groups, func(i, j int) bool { return out.Groups[i].Name < out.Groups[j].Name })
	return out, nil
}
