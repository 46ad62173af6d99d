package deploy

import (
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/yaml"
)

// App is one Argo CD Application rendered by the app-of-apps chart.
type App struct {
	Name      string
	Namespace string
	SyncWave  int
	RepoURL   string
	// Chart is set for Helm-repository sources; Path for Git sources.
	Chart, Path, TargetRevision string
	Values                      map[string]any
}

// InRepo reports whether the app's source is a path in this repository (repoURL equals repoURL).
func (a App) InRepo(repoURL string) bool { return a.RepoURL == repoURL && a.Path != "" }

// Apps reads the Applications out of the rendered app-of-apps chart, ordered by sync wave then name.
func Apps(objs []Object) ([]App, error) {
	var out []App
	for _, o := range objs {
		if o.GetKind() != "Application" || !strings.HasPrefix(o.GetAPIVersion(), "argoproj.io/") {
			continue
		}
		a := App{Name: o.GetName()}
		wave := o.GetAnnotations()["argocd.argoproj.io/sync-wave"]
		if wave != "" {
			w, err := strconv.Atoi(wave)
			if err != nil {
				return nil, fmt.Errorf("%s: sync-wave %q is not an integer", o, wave)
			}
			a.SyncWave = w
		}
		a.Namespace, _, _ = unstructured.NestedString(o.Object, "spec", "destination", "namespace")
		a.RepoURL, _, _ = unstructured.NestedString(o.Object, "spec", "source", "repoURL")
		a.Chart, _, _ = unstructured.NestedString(o.Object, "spec", "source", "chart")
		a.Path, _, _ = unstructured.NestedString(o.Object, "spec", "source", "path")
		a.TargetRevision, _, _ = unstructured.NestedString(o.Object, "spec", "source", "targetRevision")
		// Argo CD's repo server takes helm.valuesObject when it is set, else the YAML string helm.values
		// (ApplicationSourceHelm.ValuesYAML).
		if obj, ok, _ := unstructured.NestedMap(o.Object, "spec", "source", "helm", "valuesObject"); ok {
			a.Values = obj
		} else if str, ok, _ := unstructured.NestedString(o.Object, "spec", "source", "helm", "values"); ok && strings.TrimSpace(str) != "" {
			// As valuesObject reads: integers as int64 (apimachinery's JSON decoding).
			js, err := yaml.YAMLToJSON([]byte(str))
			if err == nil {
				err = utiljson.Unmarshal(js, &a.Values)
			}
			if err != nil {
				return nil, fmt.Errorf("%s: spec.source.helm.values is not a YAML map: %w", o, err)
			}
		}
		out = append(out, a)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].SyncWave != out[j].SyncWave {
			return out[i].SyncWave < out[j].SyncWave
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// Platform renders helm/platform-app for env from the repository root, with values on top of the environment's
// values file (the GitOps Bridge as global.aws, as the root Application receives it), and returns its
// Applications.
func Platform(root, env string, values map[string]any) ([]Object, []App, error) {
	objs, err := Render(filepath.Join(root, "helm", "platform-app"), Release{Name: "platform-app", Namespace: "argocd"},
		[]string{filepath.Join(root, "helm", "values", env+".yaml")}, values)
	if err != nil {
		return nil, nil, err
	}
	apps, err := Apps(objs)
	return objs, apps, err
}
