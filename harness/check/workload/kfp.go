package workload

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/shape"
)

// compileKFP compiles every pipeline object (a kfp GraphComponent) a module defines to <out>/<name>.yaml.
const compileKFP = `import importlib.util, os, sys
from kfp import compiler
from kfp.dsl.graph_component import GraphComponent
spec = importlib.util.spec_from_file_location("pipeline_module", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
n = 0
for name, obj in sorted(vars(module).items()):
    if isinstance(obj, GraphComponent):
        compiler.Compiler().compile(obj, os.path.join(sys.argv[2], name + ".yaml"))
        n += 1
print(f"compiled {n} pipeline(s)")
`

// irDoc is the part of a KFP IR document the check reads: the pipeline spec's executors (first document) and the
// Kubernetes platform spec (second document, kfp-kubernetes).
type irDoc struct {
	DeploymentSpec struct {
		Executors map[string]struct {
			Container struct {
				Resources struct {
					Accelerator struct {
						Type          string `yaml:"type"`
						ResourceType  string `yaml:"resourceType"`
						Count         string `yaml:"count"`
						ResourceCount string `yaml:"resourceCount"`
					} `yaml:"accelerator"`
				} `yaml:"resources"`
			} `yaml:"container"`
		} `yaml:"executors"`
	} `yaml:"deploymentSpec"`
	Platforms struct {
		Kubernetes struct {
			DeploymentSpec struct {
				Executors map[string]struct {
					NodeSelector struct {
						Labels map[string]string `yaml:"labels"`
					} `yaml:"nodeSelector"`
					Tolerations []corev1.Toleration `yaml:"tolerations"`
				} `yaml:"executors"`
			} `yaml:"deploymentSpec"`
		} `yaml:"kubernetes"`
	} `yaml:"platforms"`
}

// KFP compiles the legacy KFP pipelines with the pinned kfp and checks each step's GPU scheduling in the IR
// against the GPU node group Terraform declares: a step that asks for nvidia.com/gpu must select the GPU group
// and tolerate its taints, ask for no more GPUs than one GPU node has, and a step placed on the GPU group must ask
// for a GPU.
func (t *Tier) KFP(ctx context.Context) result.Result {
	files, err := filepath.Glob(filepath.Join(t.root, "workflows", "kfp", "*.py"))
	if err != nil || len(files) == 0 {
		return result.Skip(NameKFP, "no KFP pipeline under workflows/kfp")
	}
	env, err := t.runtime(ctx, "kfp")
	if err != nil {
		return skipOrFail(NameKFP, err)
	}
	dir, err := t.scratch("kfp")
	if err != nil {
		return result.Fail(NameKFP, nil, "%v", err)
	}
	script := filepath.Join(dir, "compile.py")
	if err := os.WriteFile(script, []byte(compileKFP), 0o644); err != nil {
		return result.Fail(NameKFP, nil, "%v", err)
	}
	var gpu *shape.NodeGroup
	for i, g := range t.cfg.Platform.Shape.Groups {
		if g.Instance.GPU() {
			gpu = &t.cfg.Platform.Shape.Groups[i]
			break
		}
	}
	var problems, details []string
	for _, f := range files {
		rel, _ := filepath.Rel(t.root, f)
		out := filepath.Join(dir, strings.TrimSuffix(filepath.Base(f), ".py"))
		if err := os.MkdirAll(out, 0o755); err != nil {
			return result.Fail(NameKFP, nil, "%v", err)
		}
		log := out + ".log"
		t.progress("workload/kfp: compiling %s with kfp", rel)
		if err := t.run(ctx, dir, log, env.Environ("HOME="+dir, "TMPDIR="+filepath.Join(dir, "tmp")), env.Bin("python"), script, f, out); err != nil {
			return result.Fail(NameKFP, tailFile(log, 8), "%s does not compile with kfp: %v", rel, err)
		}
		irs, _ := filepath.Glob(filepath.Join(out, "*.yaml"))
		if len(irs) == 0 {
			problems = append(problems, rel+": defines no pipeline")
		}
		for _, ir := range irs {
			steps, ps, err := checkIR(ir, gpu)
			if err != nil {
				return result.Fail(NameKFP, nil, "%s: %v", rel, err)
			}
			name := strings.TrimSuffix(filepath.Base(ir), ".yaml")
			for _, p := range ps {
				problems = append(problems, fmt.Sprintf("%s pipeline %s: %s", rel, name, p))
			}
			details = append(details, fmt.Sprintf("%s pipeline %s: %s", rel, name, strings.Join(steps, "; ")))
		}
	}
	if len(problems) > 0 {
		return result.Fail(NameKFP, problems, "%d KFP step(s) would not be scheduled as the GPU contract says", len(problems))
	}
	r := result.Pass(NameKFP, "%d KFP module(s) compiled to IR with kfp; every GPU step asks for nvidia.com/gpu, selects the GPU node group and tolerates its taints", len(files))
	r.Details = details
	return r
}

// checkIR judges one compiled pipeline; steps describes each executor.
func checkIR(path string, gpu *shape.NodeGroup) (steps, problems []string, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	var merged irDoc
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var d irDoc
		if err := dec.Decode(&d); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", filepath.Base(path), err)
		}
		if d.DeploymentSpec.Executors != nil {
			merged.DeploymentSpec = d.DeploymentSpec
		}
		if d.Platforms.Kubernetes.DeploymentSpec.Executors != nil {
			merged.Platforms = d.Platforms
		}
	}
	var names []string
	for n := range merged.DeploymentSpec.Executors {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		acc := merged.DeploymentSpec.Executors[n].Container.Resources.Accelerator
		typ, count := acc.ResourceType, acc.ResourceCount
		if typ == "" {
			typ = acc.Type
		}
		if count == "" {
			count = acc.Count
		}
		k8s := merged.Platforms.Kubernetes.DeploymentSpec.Executors[n]
		asks := typ == "nvidia.com/gpu"
		if !asks {
			steps = append(steps, n+": no GPU")
		} else {
			steps = append(steps, fmt.Sprintf("%s: %s %s, nodeSelector %v, %d toleration(s)", n, count, typ, k8s.NodeSelector.Labels, len(k8s.Tolerations)))
		}
		if gpu == nil {
			if asks {
				problems = append(problems, n+" asks for nvidia.com/gpu but Terraform declares no GPU node group")
			}
			continue
		}
		selectsGPU := len(k8s.NodeSelector.Labels) > 0 && subset(k8s.NodeSelector.Labels, gpu.Labels)
		tolerates := toleratesAll(k8s.Tolerations, gpu.Taints)
		switch {
		case asks:
			if c, err := strconv.Atoi(count); err != nil || c < 1 {
				problems = append(problems, fmt.Sprintf("%s asks for %q nvidia.com/gpu", n, count))
			} else if c > gpu.Instance.GPUs {
				problems = append(problems, fmt.Sprintf("%s asks for %d nvidia.com/gpu; a %s node of group %s has %d", n, c, gpu.Instance.Name, gpu.Name, gpu.Instance.GPUs))
			}
			if !selectsGPU {
				problems = append(problems, fmt.Sprintf("%s asks for a GPU but its nodeSelector %v does not select node group %s (labels %v)", n, k8s.NodeSelector.Labels, gpu.Name, gpu.Labels))
			}
			if !tolerates {
				problems = append(problems, fmt.Sprintf("%s asks for a GPU but does not tolerate node group %s's taints %s", n, gpu.Name, taints(gpu.Taints)))
			}
		case selectsGPU:
			problems = append(problems, fmt.Sprintf("%s is placed on node group %s but asks for no nvidia.com/gpu (it would hold a GPU node without using its GPU)", n, gpu.Name))
		}
	}
	return steps, problems, nil
}

func subset(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func toleratesAll(tols []corev1.Toleration, ts []corev1.Taint) bool {
	for i := range ts {
		if ts[i].Effect == corev1.TaintEffectPreferNoSchedule {
			continue
		}
		ok := false
		for j := range tols {
			if tols[j].ToleratesTaint(klog.Background(), &ts[i], false) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func taints(ts []corev1.Taint) string {
	var s []string
	for _, t := range ts {
		s = append(s, t.ToString())
	}
	return strings.Join(s, ", ")
}
