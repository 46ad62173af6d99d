package shape

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/gocty"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Shape is the EKS cluster that terraform/ declares for one environment.
type Shape struct {
	Environment string
	ClusterName string
	Region      string
	// Zone is the one availability zone the node groups live in.
	Zone              string
	KubernetesVersion string
	// Groups are the managed node groups, sorted by name.
	Groups []NodeGroup
}

// NodeGroup is one EKS managed node group.
type NodeGroup struct {
	Name string
	// InstanceTypes as declared; the first one shapes the emulated nodes.
	InstanceTypes []string
	Instance      InstanceType
	// CapacityType is ON_DEMAND, SPOT or CAPACITY_BLOCK, as the EKS API spells it.
	CapacityType string
	AMIType      string
	MinSize      int
	MaxSize      int
	DesiredSize  int
	DiskSizeGiB  int
	Labels       map[string]string
	Taints       []corev1.Taint
	// Source is where the group's value is written (variables.tf default or the tfvars file).
	Source hcl.Range
}

// Group returns the node group with the given name.
func (s *Shape) Group(name string) (*NodeGroup, bool) {
	for i := range s.Groups {
		if s.Groups[i].Name == name {
			return &s.Groups[i], true
		}
	}
	return nil, false
}

// Clone returns a deep copy, so a scenario can scale a group without touching the original.
func (s *Shape) Clone() *Shape {
	c := *s
	c.Groups = make([]NodeGroup, len(s.Groups))
	for i, g := range s.Groups {
		g.InstanceTypes = append([]string(nil), g.InstanceTypes...)
		labels := make(map[string]string, len(g.Labels))
		for k, v := range g.Labels {
			labels[k] = v
		}
		g.Labels = labels
		g.Taints = append([]corev1.Taint(nil), g.Taints...)
		c.Groups[i] = g
	}
	return &c
}

// Load reads the shape for env from the Terraform root module in dir and dir/env/<env>.tfvars.
// An env without a tfvars file is an error: every environment is declared.
func Load(dir, env string) (*Shape, error) {
	tfvars := filepath.Join(dir, "env", env+".tfvars")
	if _, err := os.Stat(tfvars); err != nil {
		return nil, &Error{File: tfvars, Msg: fmt.Sprintf("environment %q has no tfvars file; environments: %s", env, strings.Join(Environments(dir), ", "))}
	}
	return LoadFiles(dir, tfvars)
}

// Environments lists the environments the Terraform root module in dir declares (env/<name>.tfvars), sorted.
func Environments(dir string) []string {
	files, _ := filepath.Glob(filepath.Join(dir, "env", "*.tfvars"))
	var out []string
	for _, f := range files {
		out = append(out, strings.TrimSuffix(filepath.Base(f), ".tfvars"))
	}
	sort.Strings(out)
	if len(out) == 0 {
		return []string{"(none: no env/*.tfvars)"}
	}
	return out
}

// LoadFiles reads the shape from the Terraform root module in dir with the given tfvars file ("" for none).
func LoadFiles(dir, tfvarsPath string) (*Shape, error) {
	m, err := readModule(dir, tfvarsPath)
	if err != nil {
		return nil, err
	}
	s := &Shape{}
	strs := []struct {
		name string
		dst  *string
	}{{"environment", &s.Environment}, {"region", &s.Region}, {"cluster_version", &s.KubernetesVersion}}
	for _, f := range strs {
		if *f.dst, err = m.str(f.name); err != nil {
			return nil, err
		}
	}
	project, err := m.str("project")
	if err != nil {
		return nil, err
	}
	s.ClusterName = project + "-" + s.Environment

	zones, zexpr, err := m.value("availability_zones")
	if err != nil {
		return nil, err
	}
	if zones.IsNull() || !zones.CanIterateElements() || zones.LengthInt() == 0 {
		return nil, errAt(zexpr.Range(), "availability_zones", "must list at least one zone")
	}
	s.Zone = zones.Index(cty.NumberIntVal(0)).AsString()

	groups, gexpr, err := m.value("node_groups")
	if err != nil {
		return nil, err
	}
	if groups.IsNull() || groups.LengthInt() == 0 {
		return nil, errAt(gexpr.Range(), "node_groups", "declares no node groups")
	}
	for it := groups.ElementIterator(); it.Next(); {
		k, v := it.Element()
		g, err := nodeGroup(k.AsString(), v, gexpr)
		if err != nil {
			return nil, err
		}
		s.Groups = append(s.Groups, g)
	}
	sort.Slice(s.Groups, func(i, j int) bool { return s.Groups[i].Name < s.Groups[j].Name })
	return s, nil
}

// nodeGroupValue mirrors the object type of variable "node_groups".
type nodeGroupValue struct {
	InstanceTypes []string          `cty:"instance_types"`
	CapacityType  string            `cty:"capacity_type"`
	AMIType       string            `cty:"ami_type"`
	MinSize       int               `cty:"min_size"`
	MaxSize       int               `cty:"max_size"`
	DesiredSize   int               `cty:"desired_size"`
	DiskSize      int               `cty:"disk_size"`
	Labels        map[string]string `cty:"labels"`
	Taints        []taintValue      `cty:"taints"`
}

type taintValue struct {
	Key    string `cty:"key" json:"key"`
	Value  string `cty:"value" json:"value"`
	Effect string `cty:"effect" json:"effect"`
}

var taintEffects = map[string]corev1.TaintEffect{
	"NO_SCHEDULE":        corev1.TaintEffectNoSchedule,
	"NO_EXECUTE":         corev1.TaintEffectNoExecute,
	"PREFER_NO_SCHEDULE": corev1.TaintEffectPreferNoSchedule,
}

func nodeGroup(name string, v cty.Value, expr hcl.Expression) (NodeGroup, error) {
	field := "node_groups." + name
	at := func(p cty.Path) hcl.Range {
		return rangeOf(expr, append(cty.Path{cty.IndexStep{Key: cty.StringVal(name)}}, p...))
	}
	var nv nodeGroupValue
	if err := gocty.FromCtyValue(v, &nv); err != nil {
		path := cty.Path{}
		if pe, ok := err.(cty.PathError); ok {
			path = pe.Path
		}
		return NodeGroup{}, errAt(at(path), field+pathString(path), "%s", errMsg(err))
	}
	g := NodeGroup{Name: name, InstanceTypes: nv.InstanceTypes, CapacityType: nv.CapacityType, AMIType: nv.AMIType,
		MinSize: nv.MinSize, MaxSize: nv.MaxSize, DesiredSize: nv.DesiredSize, DiskSizeGiB: nv.DiskSize,
		Labels: nv.Labels, Source: at(nil)}
	if g.Labels == nil {
		g.Labels = map[string]string{}
	}
	if len(nv.InstanceTypes) == 0 {
		return g, errAt(at(cty.GetAttrPath("instance_types")), field+".instance_types", "lists no instance type")
	}
	for i, t := range nv.InstanceTypes {
		it, err := Lookup(t)
		if err != nil {
			p := cty.GetAttrPath("instance_types").Index(cty.NumberIntVal(int64(i)))
			return g, errAt(at(p), fmt.Sprintf("%s.instance_types[%d]", field, i), "%s", err)
		}
		if i == 0 {
			g.Instance = it
		}
	}
	switch nv.CapacityType {
	case "ON_DEMAND", "SPOT", "CAPACITY_BLOCK":
	default:
		return g, errAt(at(cty.GetAttrPath("capacity_type")), field+".capacity_type", "%q is not ON_DEMAND, SPOT or CAPACITY_BLOCK", nv.CapacityType)
	}
	if !(0 <= g.MinSize && g.MinSize <= g.DesiredSize && g.DesiredSize <= g.MaxSize && g.MaxSize >= 1) {
		return g, errAt(at(nil), field, "sizes must satisfy 0 <= min_size (%d) <= desired_size (%d) <= max_size (%d), max_size >= 1",
			g.MinSize, g.DesiredSize, g.MaxSize)
	}
	for k, val := range g.Labels {
		p := cty.GetAttrPath("labels").Index(cty.StringVal(k))
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			return g, errAt(at(p), field+".labels", "label key %q: %s", k, errs[0])
		}
		if errs := validation.IsValidLabelValue(val); len(errs) > 0 {
			return g, errAt(at(p), field+".labels."+k, "label value %q: %s", val, errs[0])
		}
	}
	for i, t := range nv.Taints {
		p := cty.GetAttrPath("taints").Index(cty.NumberIntVal(int64(i)))
		f := fmt.Sprintf("%s.taints[%d]", field, i)
		effect, ok := taintEffects[t.Effect]
		if !ok {
			return g, errAt(at(p.GetAttr("effect")), f+".effect", "%q is not NO_SCHEDULE, NO_EXECUTE or PREFER_NO_SCHEDULE", t.Effect)
		}
		if errs := validation.IsQualifiedName(t.Key); len(errs) > 0 {
			return g, errAt(at(p.GetAttr("key")), f+".key", "taint key %q: %s", t.Key, errs[0])
		}
		g.Taints = append(g.Taints, corev1.Taint{Key: t.Key, Value: t.Value, Effect: effect})
	}
	return g, nil
}
