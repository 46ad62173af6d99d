package check

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	corev1 "k8s.io/api/core/v1"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/deploy"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/shape"
)

// RepoURL is this repository's URL as the app-of-apps names it; Applications from it are in-repo charts.
const RepoURL = "https://github.com/eks-mlops/eks-mlops-enterprise-grade.git"

// Platform is everything an environment declares, read from the repository without a cluster.
type Platform struct {
	Root  string
	Env   string
	Shape *shape.Shape
	// Objects: the Applications, the in-repo charts rendered with their Applications' values, the workflow
	// manifests.
	Objects []deploy.Object
	Apps    []deploy.App
	// Workloads: pod templates of Objects, plus one per upstream app from the scheduling fields of its values.
	Workloads []deploy.Workload
	// GPUQuota is requests.nvidia.com/gpu per namespace from the rendered ResourceQuotas.
	GPUQuota map[string]int64
}

// Load reads the platform of env from root: terraform/, helm/ and workflows/.
func Load(root, env string) (*Platform, error) {
	s, err := shape.Load(filepath.Join(root, "terraform"), env)
	if err != nil {
		return nil, err
	}
	objs, apps, err := deploy.Platform(root, env)
	if err != nil {
		return nil, err
	}
	p := &Platform{Root: root, Env: env, Shape: s, Objects: objs, Apps: apps, GPUQuota: map[string]int64{}}
	for _, a := range apps {
		if !a.InRepo(RepoURL) {
			continue
		}
		rendered, err := deploy.Render(filepath.Join(root, a.Path), deploy.Release{Name: a.Name, Namespace: a.Namespace}, nil, a.Values)
		if err != nil {
			return nil, fmt.Errorf("application %s: %w", a.Name, err)
		}
		p.Objects = append(p.Objects, rendered...)
	}
	manifests, err := filepath.Glob(filepath.Join(root, "workflows", "*", "*.yaml"))
	if err != nil {
		return nil, err
	}
	sort.Strings(manifests)
	for _, m := range manifests {
		data, err := os.ReadFile(m)
		if err != nil {
			return nil, err
		}
		rel, _ := filepath.Rel(root, m)
		objs, err := deploy.Decode(rel, data)
		if err != nil {
			return nil, err
		}
		p.Objects = append(p.Objects, objs...)
	}
	if p.Workloads, err = deploy.Workloads(p.Objects); err != nil {
		return nil, err
	}
	for _, a := range apps {
		if !a.InRepo(RepoURL) {
			p.Workloads = append(p.Workloads, appWorkloads(a)...)
		}
	}
	for _, o := range p.Objects {
		if o.GetKind() != "ResourceQuota" {
			continue
		}
		var rq corev1.ResourceQuota
		if err := deploy.Convert(o.Object, &rq); err != nil {
			return nil, fmt.Errorf("%s: %w", o, err)
		}
		if q, ok := rq.Spec.Hard["requests.nvidia.com/gpu"]; ok {
			p.GPUQuota[rq.Namespace] += q.Value()
		}
	}
	return p, nil
}
