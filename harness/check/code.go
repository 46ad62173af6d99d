package check

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/check/workload"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/platform"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
)

// NameCode is the result of WorkloadCode.
const NameCode = "consistency/code"

// requirement is one `name==version` line of a lock file.
var requirement = regexp.MustCompile(`^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)`)

// readLock reads the pinned versions of a pip-compile lock (workflows/requirements/<name>.txt), by normalized name.
func readLock(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := requirement.FindStringSubmatch(strings.TrimSpace(sc.Text())); m != nil {
			out[normalize(m[1])] = m[2]
		}
	}
	return out, sc.Err()
}

// normalize is PEP 503's name normalization.
func normalize(name string) string {
	return strings.ToLower(regexp.MustCompile(`[-_.]+`).ReplaceAllString(name, "-"))
}

// WorkloadCode checks, without running anything, that the workflow code can reach the pods that run it: every
// Ray entrypoint and Serve import names a file the job ships (its runtime_env working_dir is the manifest's
// directory; a path outside it is in no image this repository builds), every image is pinned (a tag that is not
// latest), Ray's images and the lock are at the manifest's rayVersion, and every version a runtime_env pins is the
// version the repository's lock (workflows/requirements/ray.txt) pins — one place for each version.
func WorkloadCode(p *platform.Platform) result.Result {
	var problems, checked []string
	lockPath := filepath.Join(p.Root, "workflows", "requirements", "ray.txt")
	lock, lockErr := readLock(lockPath)
	for _, o := range p.Objects {
		if !strings.HasPrefix(filepath.ToSlash(o.Source), "workflows/") || o.GroupVersionKind().Group != "ray.io" {
			continue
		}
		where := fmt.Sprintf("%s %s/%s (%s)", o.GetKind(), o.GetNamespace(), o.GetName(), o.Source)
		dir := filepath.Join(p.Root, filepath.Dir(o.Source))
		rayVersion := rayVersionOf(o.Unstructured)
		for _, img := range images(o.Unstructured.Object) {
			repo, tag, digest := splitImage(img)
			switch {
			case digest == "" && (tag == "" || tag == "latest"):
				problems = append(problems, fmt.Sprintf("%s: image %s is not pinned to a version", where, img))
			case repo == "rayproject/ray" || repo == "rayproject/ray-ml":
				if rayVersion != "" && tag != "" && !atVersion(tag, rayVersion) {
					problems = append(problems, fmt.Sprintf("%s: image %s is not at the rayVersion %s", where, img, rayVersion))
				}
				if rayVersion != "" && tag == "" {
					problems = append(problems, fmt.Sprintf("%s: image %s is pinned by digest only: name the rayVersion %s in its tag too, so the versions can be compared", where, img, rayVersion))
				}
				if repo == "rayproject/ray-ml" {
					problems = append(problems, fmt.Sprintf("%s: image %s: rayproject/ray-ml was last published for Ray 2.30 (later tags are .deprecated only); use rayproject/ray and ship the libraries with the job", where, img))
				}
			}
		}
		if lockErr == nil && rayVersion != "" && lock["ray"] != rayVersion {
			problems = append(problems, fmt.Sprintf("%s: rayVersion %s, but %s pins ray %s", where, rayVersion, rel(p, lockPath), lock["ray"]))
		}
		var envs []map[string]any
		switch o.GetKind() {
		case "RayJob":
			env, err := workload.RuntimeEnv(o.Unstructured)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v", where, err))
				continue
			}
			envs = append(envs, env)
			problems = append(problems, entrypointPlacement(where, o.Unstructured)...)
			entry, _, _ := unstructured.NestedString(o.Object, "spec", "entrypoint")
			if file := entrypointFile(entry); file != "" {
				checked = append(checked, fmt.Sprintf("%s entrypoint %s", where, file))
				problems = append(problems, shipped(where, "entrypoint", file, env, dir, p)...)
			}
		case "RayService":
			apps, err := workload.ServeApps(o.Unstructured)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v", where, err))
				continue
			}
			for _, a := range apps {
				env, _ := a["runtime_env"].(map[string]any)
				envs = append(envs, env)
				for _, d := range workload.ServeDeployments(a) {
					if denv, ok, _ := unstructured.NestedMap(d, "ray_actor_options", "runtime_env"); ok {
						envs = append(envs, denv)
					}
					problems = append(problems, replicaPlacement(where, o.Unstructured, a, d)...)
				}
				imp, _ := a["import_path"].(string)
				module, _, _ := strings.Cut(imp, ":")
				if module == "" {
					problems = append(problems, fmt.Sprintf("%s: application %v has no import_path", where, a["name"]))
					continue
				}
				file := strings.ReplaceAll(module, ".", "/") + ".py"
				checked = append(checked, fmt.Sprintf("%s import %s", where, imp))
				problems = append(problems, shipped(where, "import_path "+imp, file, env, dir, p)...)
			}
		}
		for _, env := range envs {
			for _, pin := range pipPins(env) {
				m := requirement.FindStringSubmatch(pin)
				switch {
				case m == nil:
					problems = append(problems, fmt.Sprintf("%s: runtime_env pip %q is not pinned (name==version)", where, pin))
				case lockErr != nil:
					problems = append(problems, fmt.Sprintf("%s: runtime_env pip %q: %v", where, pin, lockErr))
				case lock[normalize(m[1])] != m[2]:
					problems = append(problems, fmt.Sprintf("%s: runtime_env pip %s, but %s pins %q", where, pin, rel(p, lockPath), lock[normalize(m[1])]))
				}
			}
		}
	}
	if len(problems) > 0 {
		return result.Fail(NameCode, problems, "%d way(s) the workflow code or its dependencies would not reach the pods", len(problems))
	}
	r := result.Pass(NameCode, "every Ray entrypoint and Serve import is shipped in its working_dir, every image pinned, Ray at one version in images, manifests and %s", rel(p, lockPath))
	sort.Strings(checked)
	r.Details = checked
	return r
}

func rel(p *platform.Platform, path string) string {
	r, err := filepath.Rel(p.Root, path)
	if err != nil {
		return path
	}
	return r
}

// shipped checks that file (relative to the job's working directory, or absolute) reaches the job: it must be a
// file of the directory the working_dir ships.
func shipped(where, what, file string, env map[string]any, dir string, p *platform.Platform) []string {
	wd, _ := env["working_dir"].(string)
	switch {
	case wd == "":
		return []string{fmt.Sprintf("%s: %s %s: the job has no runtime_env working_dir, and no image this repository builds holds it", where, what, file)}
	case filepath.IsAbs(file):
		return []string{fmt.Sprintf("%s: %s %s is an absolute path: in no image this repository builds; name it relative to the working_dir", where, what, file)}
	}
	if _, err := os.Stat(filepath.Join(dir, file)); err != nil {
		return []string{fmt.Sprintf("%s: %s %s is not in %s, the directory its working_dir ships", where, what, file, rel(p, dir))}
	}
	return nil
}

// entrypointFile is the Python file a `python [opts] FILE args` entrypoint runs; "" when it runs none.
func entrypointFile(entry string) string {
	fields := strings.Fields(entry)
	for i, f := range fields {
		if i == 0 && !strings.HasPrefix(filepath.Base(f), "python") {
			return ""
		}
		if i > 0 && strings.HasSuffix(f, ".py") {
			return f
		}
		if i > 0 && f == "-m" {
			if i+1 < len(fields) {
				return strings.ReplaceAll(fields[i+1], ".", "/") + ".py"
			}
		}
	}
	return ""
}

// pipPins is a runtime_env's pip packages (a list, or {packages: [...]}).
func pipPins(env map[string]any) []string {
	var list []any
	switch v := env["pip"].(type) {
	case []any:
		list = v
	case map[string]any:
		list, _ = v["packages"].([]any)
	}
	var out []string
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, strings.TrimSpace(s))
		}
	}
	return out
}

func rayVersionOf(u *unstructured.Unstructured) string {
	for _, path := range [][]string{{"spec", "rayClusterSpec", "rayVersion"}, {"spec", "rayClusterConfig", "rayVersion"}, {"spec", "rayVersion"}} {
		if v, _, _ := unstructured.NestedString(u.Object, path...); v != "" {
			return v
		}
	}
	return ""
}

// images is every container image in an object (any "image" string under a containers/initContainers list).
func images(v any) []string {
	var out []string
	var walk func(any, string)
	walk = func(v any, parent string) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if k == "image" && (parent == "containers" || parent == "initContainers") {
					if s, ok := e.(string); ok {
						out = append(out, s)
					}
					continue
				}
				walk(e, k)
			}
		case []any:
			for _, e := range x {
				walk(e, parent)
			}
		}
	}
	walk(v, "")
	sort.Strings(out)
	return out
}

// splitImage splits repo[:tag][@digest] into the repository, the tag and the digest; a digest alone pins.
func splitImage(img string) (repo, tag, digest string) {
	img, digest, _ = strings.Cut(img, "@")
	i := strings.LastIndex(img, ":")
	if i < 0 || strings.Contains(img[i:], "/") {
		return img, "", digest
	}
	return img[:i], img[i+1:], digest
}

// atVersion reports whether an image tag is the release v (v itself, or a variant such as v-py311-gpu).
func atVersion(tag, v string) bool { return tag == v || strings.HasPrefix(tag, v+"-") }

// entrypointPlacement checks that the resources a RayJob reserves for its driver (entrypointResources,
// entrypointNumGpus) are offered by one group of its RayCluster: otherwise Ray never places the driver and the job
// stays PENDING until its deadline.
func entrypointPlacement(where string, u *unstructured.Unstructured) []string {
	custom, _, _ := unstructured.NestedString(u.Object, "spec", "entrypointResources")
	gpus, _, _ := unstructured.NestedFieldNoCopy(u.Object, "spec", "entrypointNumGpus")
	var wantGPUs float64
	if gpus != nil {
		_, _ = fmt.Sscan(fmt.Sprint(gpus), &wantGPUs)
	}
	if strings.TrimSpace(custom) == "" && wantGPUs == 0 {
		return nil
	}
	want := map[string]float64{}
	if strings.TrimSpace(custom) != "" {
		if err := json.Unmarshal([]byte(custom), &want); err != nil {
			return []string{fmt.Sprintf("%s: spec.entrypointResources %q is not a JSON object of numbers (Ray refuses the submission): %v", where, custom, err)}
		}
	}
	groups, err := workload.RayGroups(u)
	if err != nil {
		return []string{fmt.Sprintf("%s: %v", where, err)}
	}
	var offers []string
	for _, g := range groups {
		fits := g.GPUs >= wantGPUs
		for k, v := range want {
			if g.Custom[k] < v {
				fits = false
			}
		}
		if fits {
			return nil
		}
		offers = append(offers, fmt.Sprintf("%s offers %s", g.Name, offerText(g)))
	}
	asked := []string{}
	for k, v := range want {
		asked = append(asked, fmt.Sprintf("%s=%g", k, v))
	}
	if wantGPUs > 0 {
		asked = append(asked, fmt.Sprintf("GPU=%g", wantGPUs))
	}
	sort.Strings(asked)
	return []string{fmt.Sprintf("%s: the driver reserves %s (spec.entrypointResources/entrypointNumGpus), which no group of its RayCluster offers (%s): Ray never starts the driver, the job stays PENDING until its deadline",
		where, strings.Join(asked, ", "), strings.Join(offers, "; "))}
}

// replicaPlacement: a Serve replica is one Ray actor, placed on one Ray node that holds everything its
// ray_actor_options reserve (num_cpus when given, num_gpus, custom resources): when no group of the RayService's
// RayCluster offers that, the replica is never scheduled (no autoscaler adds a node KubeRay does not describe),
// the application stays DEPLOYING and the RayService never becomes ready (ray-project/kuberay#1090).
func replicaPlacement(where string, u *unstructured.Unstructured, app, d map[string]any) []string {
	opts, _ := d["ray_actor_options"].(map[string]any)
	if len(opts) == 0 {
		return nil
	}
	num := func(v any) (float64, bool) {
		var f float64
		if v == nil {
			return 0, false
		}
		_, err := fmt.Sscan(fmt.Sprint(v), &f)
		return f, err == nil
	}
	cpus, askCPU := num(opts["num_cpus"])
	gpus, _ := num(opts["num_gpus"])
	custom := map[string]float64{}
	if res, ok := opts["resources"].(map[string]any); ok {
		for k, v := range res {
			if f, ok := num(v); ok {
				custom[k] = f
			}
		}
	}
	if !askCPU && gpus == 0 && len(custom) == 0 {
		return nil
	}
	groups, err := workload.RayGroups(u)
	if err != nil {
		return []string{fmt.Sprintf("%s: %v", where, err)}
	}
	var offers []string
	for _, g := range groups {
		fits := g.GPUs >= gpus && (!askCPU || g.CPUs < 0 || g.CPUs >= cpus)
		for k, v := range custom {
			if g.Custom[k] < v {
				fits = false
			}
		}
		if fits {
			return nil
		}
		offer := offerText(g)
		if g.CPUs >= 0 {
			offer = fmt.Sprintf("CPU=%g, %s", g.CPUs, offer)
		}
		offers = append(offers, fmt.Sprintf("%s offers %s", g.Name, offer))
	}
	var asked []string
	for k, v := range custom {
		asked = append(asked, fmt.Sprintf("%s=%g", k, v))
	}
	sort.Strings(asked)
	if askCPU {
		asked = append(asked, fmt.Sprintf("CPU=%g", cpus))
	}
	if gpus > 0 {
		asked = append(asked, fmt.Sprintf("GPU=%g", gpus))
	}
	return []string{fmt.Sprintf("%s: Serve deployment %v of application %v reserves %s per replica (ray_actor_options), which no Ray node of its RayCluster offers (%s): the replica is never scheduled, the application stays DEPLOYING and the RayService never becomes ready",
		where, d["name"], app["name"], strings.Join(asked, ", "), strings.Join(offers, "; "))}
}

func offerText(g workload.RayGroup) string {
	var parts []string
	for k, v := range g.Custom {
		parts = append(parts, fmt.Sprintf("%s=%g", k, v))
	}
	sort.Strings(parts)
	if g.GPUs > 0 {
		parts = append(parts, fmt.Sprintf("GPU=%g", g.GPUs))
	}
	if len(parts) == 0 {
		return "no custom resource or GPU"
	}
	return strings.Join(parts, ", ")
}
