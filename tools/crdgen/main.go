// Command crdgen generates the CustomResourceDefinitions the harness installs into the emulated cluster, from
// the upstream Go API types, with sigs.k8s.io/controller-tools used as a library (the same generator
// controller-gen runs). Nothing upstream is copied into the repository: the types are read from the module
// cache at the versions this module's go.mod pins, and the output goes to a build directory (bin/crds).
//
//	go run . -out ../../bin/crds
//
// It is a separate Go module so that Argo CD's, KubeRay's and Karpenter's dependency graphs never touch the
// harness's (which pins the Kubernetes control plane it embeds).
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"

	"golang.org/x/tools/go/packages"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-tools/pkg/crd"
	"sigs.k8s.io/controller-tools/pkg/genall"
	"sigs.k8s.io/controller-tools/pkg/loader"
	"sigs.k8s.io/yaml"
)

// source is one API package and the module that carries it, with the controller-gen options its upstream
// project generates its own CRDs with (so the harness accepts what the upstream CRD accepts).
type source struct {
	module string
	pkg    string
	// embeddedMeta is crd:generateEmbeddedObjectMeta=true: pod templates keep metadata.labels/annotations.
	// KubeRay sets it (ray-operator/Makefile: CRD_OPTIONS ?= "crd:maxDescLen=0,generateEmbeddedObjectMeta=true,
	// allowDangerousTypes=true").
	embeddedMeta bool
}

var sources = []source{
	{module: "github.com/argoproj/argo-cd/v3", pkg: "github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"},
	{module: "github.com/ray-project/kuberay/ray-operator", pkg: "github.com/ray-project/kuberay/ray-operator/apis/ray/v1", embeddedMeta: true},
	{module: "sigs.k8s.io/karpenter", pkg: "sigs.k8s.io/karpenter/pkg/apis/v1"},
	// KServe is not served by the module proxy; see its doc.go. The Karpenter AWS provider's EC2NodeClass CRD is
	// not generated: it is copied as the provider module publishes it (-copy, from tools/karpenter's pin).
	{module: "github.com/eks-mlops/eks-mlops-enterprise-grade/tools/crdgen", pkg: "github.com/eks-mlops/eks-mlops-enterprise-grade/tools/crdgen/kserve/v1beta1"},
}

// skip lists CRDs the API packages define but nothing in this project creates.
var skip = map[string]bool{
	// 1.5 MB even without descriptions (it embeds Application templates many times over); no ApplicationSet
	// is declared here, and installing it would be most of the CRD install time.
	"applicationsets.argoproj.io": true,
}

// copied is a CRD file an upstream module publishes, copied unchanged: -copy <module>@<version>=<file>.
type copied struct{ module, version, file string }

type copyFlags []copied

func (c *copyFlags) String() string { return fmt.Sprint(*c) }

func (c *copyFlags) Set(v string) error {
	mod, file, ok := strings.Cut(v, "=")
	path, version, ok2 := strings.Cut(mod, "@")
	if !ok || !ok2 || path == "" || version == "" || file == "" {
		return fmt.Errorf("want <module>@<version>=<file>, got %q", v)
	}
	*c = append(*c, copied{module: path, version: version, file: file})
	return nil
}

func main() {
	out := flag.String("out", "../../bin/crds", "directory to write the CRDs into (replaced)")
	var copies copyFlags
	flag.Var(&copies, "copy", "<module>@<version>=<file>: also install this CRD file an upstream module publishes, unchanged (repeatable)")
	flag.Parse()
	if err := run(*out, copies); err != nil {
		fmt.Fprintln(os.Stderr, "crdgen:", err)
		os.Exit(1)
	}
}

func run(out string, copies []copied) error {
	// Descriptions are dropped (the harness validates, it does not document; Argo CD's Application CRD with
	// descriptions is close to etcd's request limit). Floats are allowed because KubeRay's own generation
	// allows them (crd:allowDangerousTypes=true in its Makefile).
	zero, yes := 0, true
	mem := &memOutput{files: map[string]*bytes.Buffer{}}
	for _, embedded := range []bool{false, true} { // one controller-gen run per option set
		var roots []string
		for _, s := range sources {
			if s.embeddedMeta == embedded {
				roots = append(roots, s.pkg)
			}
		}
		if len(roots) == 0 {
			continue
		}
		em := embedded
		gen := genall.Generator(&crd.Generator{MaxDescLen: &zero, AllowDangerousTypes: &yes, CRDVersions: []string{"v1"}, GenerateEmbeddedObjectMeta: &em})
		rt, err := genall.Generators{&gen}.ForRootsWithConfig(&packages.Config{Dir: "."}, roots...)
		if err != nil {
			return fmt.Errorf("loading API packages: %w", err)
		}
		rt.OutputRules.Default = mem
		if rt.Run() {
			return fmt.Errorf("controller-tools reported errors (above)")
		}
	}

	if err := os.MkdirAll(filepath.Dir(filepath.Clean(out)), 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(filepath.Clean(out)), ".crds-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	var names []string
	for path, buf := range mem.files {
		objs, err := decodeAll(buf.Bytes())
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		for _, u := range objs {
			if u.GetKind() != "CustomResourceDefinition" {
				continue
			}
			if u.GetAnnotations() != nil {
				anns := u.GetAnnotations()
				delete(anns, "controller-gen.kubebuilder.io/version")
				u.SetAnnotations(anns)
			}
			if skip[u.GetName()] {
				continue
			}
			group, _, _ := unstructured.NestedString(u.Object, "spec", "group")
			if group == "argoproj.io" {
				argoFixup(u)
			}
			data, err := yaml.Marshal(u.Object)
			if err != nil {
				return err
			}
			name := u.GetName() + ".yaml"
			if err := os.WriteFile(filepath.Join(tmp, name), data, 0o644); err != nil {
				return err
			}
			names = append(names, u.GetName())
		}
	}
	for _, c := range copies {
		data, err := os.ReadFile(c.file)
		if err != nil {
			return fmt.Errorf("-copy %s@%s: %w", c.module, c.version, err)
		}
		objs, err := decodeAll(data)
		if err != nil {
			return fmt.Errorf("%s: %w", c.file, err)
		}
		if len(objs) != 1 || objs[0].GetKind() != "CustomResourceDefinition" {
			return fmt.Errorf("%s: want one CustomResourceDefinition, got %d object(s)", c.file, len(objs))
		}
		if err := os.WriteFile(filepath.Join(tmp, objs[0].GetName()+".yaml"), data, 0o644); err != nil {
			return err
		}
		names = append(names, objs[0].GetName())
	}
	sort.Strings(names)
	prov, err := provenance(names, copies)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, "SOURCES"), []byte(prov), 0o644); err != nil {
		return err
	}
	if err := os.RemoveAll(out); err != nil {
		return err
	}
	if err := os.Rename(tmp, out); err != nil {
		return err
	}
	fmt.Printf("crdgen: %d CRDs into %s\n", len(names), out)
	return nil
}

// argoFixup does what Argo CD's hack/gen-crd-spec does to controller-gen's output: metadata.creationTimestamp is
// marshalled as null but typed string, and AppProject's status schema is dropped (argo-cd issue 4158).
func argoFixup(u *unstructured.Unstructured) {
	versions, _, _ := unstructured.NestedSlice(u.Object, "spec", "versions")
	for i, v := range versions {
		vm, ok := v.(map[string]any)
		if !ok {
			continue
		}
		unstructured.RemoveNestedField(vm, "schema", "openAPIV3Schema", "properties", "metadata", "properties", "creationTimestamp")
		if u.GetName() == "appprojects.argoproj.io" {
			unstructured.RemoveNestedField(vm, "schema", "openAPIV3Schema", "properties", "status")
		}
		versions[i] = vm
	}
	_ = unstructured.SetNestedSlice(u.Object, versions, "spec", "versions")
}

// provenance records which module version each CRD came from, for the harness's report: the versions of the
// source modules as the module graph selects them (the packages controller-tools loaded), controller-tools' from the
// build.
func provenance(names []string, copies []copied) (string, error) {
	versions := map[string]string{}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			versions[d.Path] = d.Version
		}
	}
	var pkgs []string
	for _, s := range sources {
		pkgs = append(pkgs, s.pkg)
	}
	loaded, err := packages.Load(&packages.Config{Mode: packages.NeedName | packages.NeedModule, Dir: "."}, pkgs...)
	if err != nil {
		return "", fmt.Errorf("reading the API packages' module versions: %w", err)
	}
	for _, p := range loaded {
		if p.Module != nil && !p.Module.Main {
			versions[p.Module.Path] = p.Module.Version
		}
	}
	var b strings.Builder
	b.WriteString("# CRDs generated by tools/crdgen (sigs.k8s.io/controller-tools " + versions["sigs.k8s.io/controller-tools"] + ") from:\n")
	for _, s := range sources {
		v := versions[s.module]
		if v == "" {
			v = "(in-repo stand-in: no served module carries these types)"
		}
		fmt.Fprintf(&b, "%s %s %s\n", s.module, v, s.pkg)
	}
	for _, c := range copies {
		file := c.file // its path inside the module when it is in the module cache
		if _, after, ok := strings.Cut(file, c.module+"@"+c.version+"/"); ok {
			file = after
		}
		fmt.Fprintf(&b, "%s %s %s (copied unchanged)\n", c.module, c.version, file)
	}
	b.WriteString("# CRDs:\n" + strings.Join(names, "\n") + "\n")
	return b.String(), nil
}

func decodeAll(data []byte) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		var m map[string]any
		if err := dec.Decode(&m); err == io.EOF {
			return objs, nil
		} else if err != nil {
			return nil, err
		}
		if m != nil {
			objs = append(objs, &unstructured.Unstructured{Object: m})
		}
	}
}

// memOutput collects controller-tools' artifacts in memory so they can be post-processed before writing.
type memOutput struct{ files map[string]*bytes.Buffer }

func (m *memOutput) Open(_ *loader.Package, path string) (io.WriteCloser, error) {
	b := &bytes.Buffer{}
	m.files[path] = b
	return nopCloser{b}, nil
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
