package rehearse

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/check"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cluster/embedded"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/deploy"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/engine"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/platform"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/rollout"
)

// Config is one rehearsal.
type Config struct {
	Platform *platform.Platform
	// To is the target minor ("1.36"); the current one is the platform's cluster_version. A jump of more than
	// one minor is rehearsed as one step per minor.
	To string
	// Charts and CRDsDir are the engine's; ExtraCRDDirs hold more CRDs for the in-place step (Argo CD's).
	Charts       engine.Charts
	CRDsDir      string
	ExtraCRDDirs []string
	// Servers are the real kube-apiserver builds by minor (make rehearse: bin/kube-apiserver-1.NN); ServerArgs
	// extra flags by minor.
	Servers    map[string]string
	ServerArgs map[string][]string
	// APIs fetches a minor's API data (default FetchAPIs).
	APIs func(ctx context.Context, minor string) (*APIs, error)
	// Dir is the scratch directory (the caller removes it).
	Dir string
	// Executable hosts the embedded control plane (default this program).
	Executable string
	// Progress gets progress lines; each result as it comes goes to Result. Both may be nil.
	Progress func(format string, args ...any)
	Result   func(result.Result)
}

// Steps are the upgrade steps from the declared minor to the target: one per minor.
func Steps(from, to string) ([][2]string, error) {
	f, err := Minor(from)
	if err != nil {
		return nil, err
	}
	t, err := Minor(to)
	if err != nil {
		return nil, err
	}
	if t <= f {
		return nil, fmt.Errorf("--to %s is not after the declared cluster_version %s", to, from)
	}
	var out [][2]string
	for m := f; m < t; m++ {
		out = append(out, [2]string{fmt.Sprintf("1.%d", m), fmt.Sprintf("1.%d", m+1)})
	}
	return out, nil
}

// Run rehearses every step: static (blockers first), in place, the cluster at the target with the node groups
// rolled, the checks again. It returns every result, each prefixed by its step when there is more than one.
func Run(ctx context.Context, cfg Config) ([]result.Result, error) {
	if cfg.APIs == nil {
		cfg.APIs = FetchAPIs
	}
	progress := cfg.Progress
	if progress == nil {
		progress = func(string, ...any) {}
	}
	emit := cfg.Result
	if emit == nil {
		emit = func(result.Result) {}
	}
	from := cfg.Platform.Static.KubernetesVersion
	steps, err := Steps(from, cfg.To)
	if err != nil {
		return nil, err
	}
	var all []result.Result
	for i, st := range steps {
		prefix := ""
		if len(steps) > 1 {
			prefix = fmt.Sprintf("step %d/%d %s->%s: ", i+1, len(steps), st[0], st[1])
		}
		progress("%srehearsing the upgrade %s -> %s", prefix, st[0], st[1])
		err := step(ctx, cfg, st[0], st[1], progress, func(r result.Result) {
			if len(steps) > 1 {
				r.Name = st[0] + "->" + st[1] + "/" + r.Name
			}
			all = append(all, r)
			emit(r)
		})
		if err != nil {
			return all, err
		}
	}
	return all, nil
}

func step(ctx context.Context, cfg Config, from, to string, progress func(string, ...any), emit func(result.Result)) error {
	add := func(rs ...result.Result) {
		for _, r := range rs {
			emit(r)
		}
	}
	p := cfg.Platform
	// The static plan: blockers first.
	e, err := engine.NewEnv(p, nil, cfg.Charts, cfg.CRDsDir)
	if err != nil {
		return err
	}
	target, err := cfg.APIs(ctx, to)
	var current *APIs
	if err == nil {
		current, _ = cfg.APIs(ctx, from)
	}
	static := Static(ctx, e, from, to, target, current)
	if err != nil {
		static[0] = result.Skip(NameAPIs, "the API data of Kubernetes %s could not be had: %v", to, err)
	}
	sort.SliceStable(static, func(i, j int) bool { return rank(static[i]) < rank(static[j]) })
	add(static...)

	// In place: the real servers of both minors on the same etcd data.
	objs, unrendered, err := inPlaceObjects(ctx, e, cfg)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp(cfg.Dir, "in-place-")
	if err != nil {
		return err
	}
	inPlace := InPlace{From: from, To: to, Servers: cfg.Servers, Args: cfg.ServerArgs, Dir: dir, Progress: progress}.Run(ctx, objs)
	add(inPlace)
	if inPlace.Status == result.Passed && len(unrendered) > 0 {
		// The objects of charts that could not be rendered were not there: that part is reported apart, skipped.
		add(result.SkippedPart(inPlace.Name, unrendered))
	}
	_ = os.RemoveAll(dir)

	// The cluster once EKS has moved the control plane: the target minor, the node groups still at the current
	// one; the platform deployed and checked, then each node group rolled, then the checks again.
	t0 := time.Now()
	nodesAt := p.Shape.Clone() // the node groups at this step's current minor (rolled by the step before)
	nodesAt.KubernetesVersion = from
	c, err := embedded.New(embedded.Config{Shape: nodesAt, RunDir: cfg.Dir, ControlPlaneVersion: to, Executable: cfg.Executable})
	if err != nil {
		return err
	}
	if err := c.Start(ctx); err != nil {
		return errors.Join(err, c.Stop(context.WithoutCancel(ctx)))
	}
	defer c.Stop(context.WithoutCancel(ctx)) //nolint:errcheck
	progress("control plane %s (nodes at %s) ready in %s", to, from, time.Since(t0).Round(100*time.Millisecond))
	ce, err := engine.NewEnv(p, c, cfg.Charts, cfg.CRDsDir)
	if err != nil {
		return err
	}
	before, err := check.Execute(ctx, &check.Run{Env: ce}, clusterSteps(true), nil)
	if err != nil {
		return err
	}
	for i := range before {
		before[i].Name = "before-roll/" + before[i].Name
	}
	add(before...)
	cs, err := kubernetes.NewForConfig(c.RESTConfig())
	if err != nil {
		return err
	}
	// The workflows' pod templates (GPU training among them) run as probe Deployments while the groups roll.
	if _, err := ce.RunProbes(ctx, 2*time.Minute); err != nil {
		add(result.Fail("rehearse/probes", nil, "probes before the roll: %v", err))
	}
	kubelet := "v" + to + ".0"
	for _, g := range p.Shape.Groups {
		add(check.Roll(rollout.RollNodeGroup(ctx, cs, c, rollout.Roll{Group: g.Name, KubeletVersion: kubelet, Progress: progress})))
	}
	if err := ce.DeleteProbes(ctx); err != nil {
		add(result.Fail("rehearse/probes", nil, "delete probes after the roll: %v", err))
	}
	after, err := check.Execute(ctx, &check.Run{Env: ce}, clusterSteps(false), nil)
	if err != nil {
		return err
	}
	for i := range after {
		after[i].Name = "after/" + after[i].Name
	}
	add(after...)
	return nil
}

// clusterSteps are the check steps that need a cluster: with deploy for the first run, the verdicts only for
// the run after the roll (the platform stays deployed).
func clusterSteps(withDeploy bool) []check.Step {
	if withDeploy {
		return check.Select(check.Steps(), check.ClusterPhases...)
	}
	return check.Select(check.Steps(), check.PhaseControllers, check.PhasePlacement, check.PhaseAcceptance)
}

func rank(r result.Result) int {
	switch r.Status {
	case result.Failed:
		return 0
	case result.Skipped:
		return 2
	}
	return 1
}

// inPlaceObjects are the objects the in-place step applies: the generated CRDs (and extra CRD directories),
// every upstream chart rendered with the project's values, the platform model's objects (Applications, in-repo
// charts, workflows) and the bootstrap.
//
// Charts that could not be rendered are returned apart (their objects are not among those applied).
func inPlaceObjects(ctx context.Context, e *engine.Env, cfg Config) ([]deploy.Object, []string, error) {
	var objs []deploy.Object
	for _, dir := range append([]string{cfg.CRDsDir}, cfg.ExtraCRDDirs...) {
		if dir == "" {
			continue
		}
		files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				return nil, nil, err
			}
			os, err := deploy.Decode(f, data)
			if err != nil {
				return nil, nil, err
			}
			objs = append(objs, os...)
		}
	}
	all, skipped := objects(ctx, e, e.Platform.Shape.KubernetesVersion)
	return append(objs, all...), skipped, nil
}
