// Package platform is the model of one environment of the platform, built once per run from an explicit
// repository root: the Terraform shape (static, or the node groups an apply created), the Terraform sources the
// policies read, the Argo CD Applications with their values, the rendered in-repo charts, the workflow
// manifests, and the workloads (pod templates) they all declare. Everything downstream reads the model; nothing
// re-reads terraform/, helm/ or workflows/ after Load.
package platform

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/zclconf/go-cty/cty"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/deploy"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/gpu"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/shape"
)

// RepoURL is this repository's URL as the app-of-apps names it; Applications from it are in-repo charts.
const RepoURL = "https://github.com/eks-mlops/eks-mlops-enterprise-grade.git"

// Platform is everything an environment declares, read from the repository without a cluster.
type Platform struct {
	// Root is the repository root (terraform/, helm/, workflows/ beneath it).
	Root string
	Env  string
	// Shape is the node layout the cluster is built from and every check judges: Static, or the node groups an
	// apply created (WithApplied).
	Shape *shape.Shape
	// Static is what terraform/ declares for Env.
	Static *shape.Shape
	// Applied is true when Shape comes from an apply.
	Applied bool
	// Terraform holds every .tf and .tfvars file under terraform/, read once.
	Terraform Sources
	// Vars are the root module's variables for Env (tfvars over defaults), as Terraform evaluates them.
	Vars map[string]cty.Value
	// Objects: the Applications, the in-repo charts rendered with their Applications' values, the workflow
	// manifests.
	Objects []deploy.Object
	Apps    []deploy.App
	// Workloads: pod templates of Objects, plus one per upstream app from the scheduling fields of its values.
	Workloads []deploy.Workload
	// GPUQuota is requests.nvidia.com/gpu per namespace from the rendered ResourceQuotas.
	GPUQuota map[string]int64
	// ValuesFiles are the app-of-apps' values files (chart defaults, then the environment's), for key lines.
	ValuesFiles []ValuesFile
	// Bridge is the GitOps Bridge: Terraform's gitops_metadata, handed to the app-of-apps as global.aws and to
	// the workflow manifests as ${NAME}s.
	Bridge *Bridge
	// GitOps are the GitOps side's files as written, for the checks that read their text: the app-of-apps values
	// (defaults and env's), the in-repo charts (templates, values), the workflows (manifests and code).
	GitOps []File
	// Workflows are the workflow manifests as written (before the bridge's substitution), for the checks that
	// read their text.
	Workflows []File
	// CheckovUpstream is helm/checkov-upstream.yaml: per upstream chart ("*": every chart), the checkov checks whose
	// findings the platform accepts, with the reason.
	CheckovUpstream map[string]map[string]string
	// Bootstrap are helm/bootstrap.yaml's objects (the AppProject and the root Application the runbook applies).
	Bootstrap     []deploy.Object
	BootstrapFile string
	// ArgoCDSettings are the argocd-cm entries the platform relies on (ArgoCDSettingsFile: applied after Argo CD's
	// install by the runbook, and by the harness to its own Argo CD); nil when the file is absent.
	ArgoCDSettings map[string]string
	// ChartLock is helm/charts.lock: the sha256 of every pinned upstream chart's archive (`harness charts pull`).
	ChartLock *deploy.Lock
}

// Sources are the files of a Terraform tree, read once.
type Sources struct {
	// Dir is the tree's directory (as given: relative paths stay relative, so messages name them as users wrote).
	Dir string
	// Files by path (Dir joined with the path inside the tree), sorted by path.
	Files []File
}

// File is one source file.
type File struct {
	Path string
	Data []byte
}

// ArgoCDSettingsFile holds the argocd-cm entries the platform relies on.
var ArgoCDSettingsFile = filepath.Join("helm", "argocd", "argocd-cm.yaml")

// TerraformDir is the Terraform root module of the repository at root.
func TerraformDir(root string) string { return filepath.Join(root, "terraform") }

// Load reads the platform of env from the repository at root: terraform/, helm/ and workflows/. Every error
// names the file (and, where there is one, the line and field).
func Load(root, env string) (*Platform, error) { return LoadWith(root, env, nil) }

// LoadWith is Load with the GitOps Bridge an apply produced (`terraform output gitops_metadata`, NewBridgeJSON)
// instead of the one computed from terraform/ for the emulator's account: the charts and workflows then get the
// names AWS really has, as the root Application does after the runbook's bridge step.
func LoadWith(root, env string, bridge *Bridge) (*Platform, error) {
	p, err := LoadTerraform(TerraformDir(root), env)
	if err != nil {
		return nil, err
	}
	p.Root = root
	if p.Bridge = bridge; bridge == nil {
		if p.Bridge, _, err = loadBridge(TerraformDir(root), p.Vars, p.Terraform, time.Now()); err != nil {
			return nil, err
		}
	}
	objs, apps, err := deploy.Platform(root, env, map[string]any{"global": map[string]any{"aws": p.Bridge.Values}})
	if err != nil {
		return nil, err
	}
	p.Objects, p.Apps = objs, apps
	if p.ValuesFiles, err = readValuesFiles(root, env); err != nil {
		return nil, err
	}
	if p.ChartLock, err = deploy.ReadLock(filepath.Join(root, deploy.LockFile)); err != nil {
		return nil, err
	}
	for _, a := range apps {
		if !a.InRepo(RepoURL) {
			continue
		}
		rendered, err := deploy.Render(filepath.Join(root, a.Path), deploy.Release{Name: a.Name, Namespace: a.Namespace, KubeVersion: p.Shape.KubernetesVersion}, nil, a.Values)
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
		p.Workflows = append(p.Workflows, File{Path: rel, Data: data})
		if data, err = p.Bridge.Substitute(rel, data); err != nil {
			return nil, err
		}
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
			ws, err := p.appWorkloads(a)
			if err != nil {
				return nil, err
			}
			p.Workloads = append(p.Workloads, ws...)
		}
	}
	addons, err := eksAddonWorkloads(p.Terraform)
	if err != nil {
		return nil, err
	}
	p.Workloads = append(p.Workloads, addons...)
	if p.GitOps, err = readGitOps(root, env, apps); err != nil {
		return nil, err
	}
	if p.CheckovUpstream, err = readCheckovUpstream(root); err != nil {
		return nil, err
	}
	p.BootstrapFile = filepath.Join("helm", "bootstrap.yaml")
	if data, err := os.ReadFile(filepath.Join(root, p.BootstrapFile)); err == nil {
		if p.Bootstrap, err = deploy.Decode(p.BootstrapFile, data); err != nil {
			return nil, err
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if data, err := os.ReadFile(filepath.Join(root, ArgoCDSettingsFile)); err == nil {
		objs, err := deploy.Decode(ArgoCDSettingsFile, data)
		if err != nil {
			return nil, err
		}
		if len(objs) != 1 || objs[0].GetKind() != "ConfigMap" || objs[0].GetName() != "argocd-cm" {
			return nil, fmt.Errorf("%s: want one ConfigMap argocd-cm", ArgoCDSettingsFile)
		}
		p.ArgoCDSettings = map[string]string{}
		data, _, _ := unstructured.NestedStringMap(objs[0].Object, "data")
		maps.Copy(p.ArgoCDSettings, data)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	for _, o := range p.Objects {
		if o.GetKind() != "ResourceQuota" {
			continue
		}
		var rq corev1.ResourceQuota
		if err := deploy.Convert(o.Object, &rq); err != nil {
			return nil, fmt.Errorf("%s (%s): %w", o, o.Source, err)
		}
		if q, ok := rq.Spec.Hard[gpu.QuotaKey]; ok {
			p.GPUQuota[rq.Namespace] += q.Value()
		}
	}
	return p, nil
}

// LoadTerraform reads only the Terraform side of env from the root module in dir — the shape and the sources —
// for what needs no Helm or workflows (the policy tier's tests, tools). Root is dir's parent.
func LoadTerraform(dir, env string) (*Platform, error) {
	s, err := shape.Load(dir, env)
	if err != nil {
		return nil, err
	}
	src, err := readSources(dir)
	if err != nil {
		return nil, err
	}
	vars, err := shape.Variables(dir, env)
	if err != nil {
		return nil, err
	}
	return &Platform{Root: filepath.Dir(filepath.Clean(dir)), Env: env, Shape: s, Static: s, Terraform: src, Vars: vars, GPUQuota: map[string]int64{}}, nil
}

// WithApplied returns a copy of p whose Shape is the applied one (the node groups an apply created): the
// cluster, the checks and the policies then all judge what AWS built.
func (p *Platform) WithApplied(s *shape.Shape) *Platform {
	c := *p
	c.Shape, c.Applied = s, true
	return &c
}

// Shaped says which shape the run uses, for progress lines and reports.
func (p *Platform) Shaped() string {
	if p.Applied {
		return "the applied node groups"
	}
	return "the static reading of terraform/"
}

func readSources(dir string) (Sources, error) {
	src := Sources{Dir: dir}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != dir && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir // .terraform and the like
		}
		if d.IsDir() || !(strings.HasSuffix(path, ".tf") || strings.HasSuffix(path, ".tfvars")) {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		src.Files = append(src.Files, File{Path: path, Data: data})
		return nil
	})
	if err != nil {
		return src, fmt.Errorf("read %s: %w", dir, err)
	}
	sort.Slice(src.Files, func(i, j int) bool { return src.Files[i].Path < src.Files[j].Path })
	return src, nil
}

// readGitOps reads the GitOps side's text files (see Platform.GitOps), paths relative to root.
func readGitOps(root, env string, apps []deploy.App) ([]File, error) {
	var out []File
	add := func(dir string, exts ...string) error {
		return filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			for _, e := range exts {
				if strings.HasSuffix(path, e) {
					data, err := os.ReadFile(path)
					if err != nil {
						return err
					}
					rel, _ := filepath.Rel(root, path)
					out = append(out, File{Path: rel, Data: data})
					return nil
				}
			}
			return nil
		})
	}
	for _, f := range []string{filepath.Join("helm", "platform-app", "values.yaml"), filepath.Join("helm", "values", env+".yaml")} {
		if err := add(f, ".yaml"); err != nil {
			return nil, err
		}
	}
	for _, a := range apps {
		if a.InRepo(RepoURL) {
			if err := add(a.Path, ".yaml", ".tpl"); err != nil {
				return nil, err
			}
		}
	}
	if err := add("workflows", ".yaml", ".py"); err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// CheckovUpstreamFile lists the checkov findings on upstream charts the platform accepts, with reasons.
const CheckovUpstreamFile = "helm/checkov-upstream.yaml"

func readCheckovUpstream(root string) (map[string]map[string]string, error) {
	data, err := os.ReadFile(filepath.Join(root, CheckovUpstreamFile))
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]map[string]string{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]string{}
	if err := yaml.UnmarshalStrict(data, &out); err != nil {
		return nil, fmt.Errorf("%s: %w (want: chart name -> checkov check ID -> reason)", CheckovUpstreamFile, err)
	}
	for chart, checks := range out {
		for id, reason := range checks {
			if strings.TrimSpace(reason) == "" {
				return nil, fmt.Errorf("%s: %s.%s has no reason", CheckovUpstreamFile, chart, id)
			}
		}
	}
	return out, nil
}
