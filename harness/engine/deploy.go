package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/deploy"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/platform"
)

// CRDInstall is what installing the generated CRDs did; check.CRDs judges it.
type CRDInstall struct {
	// Missing says why there was nothing to install (no directory given, or not generated): nothing was validated.
	Missing string
	// Err is what stopped the install.
	Err error
	// Installed are the CRDs installed (and served), Sources where they were generated from, Left those left to
	// the charts that ship them (a chart that ships a CRD owns it).
	Installed, Sources, Left []string
}

// InstallCRDs installs the generated CRDs so the API server validates custom resources against the upstream
// schemas, for kinds no installable chart ships.
func (e *Env) InstallCRDs(ctx context.Context) (out CRDInstall) {
	if e.CRDsDir == "" {
		out.Missing = "no CRD directory given"
		return out
	}
	set, err := deploy.LoadCRDs(e.CRDsDir)
	if errors.Is(err, deploy.ErrNoCRDs) {
		out.Missing = err.Error()
		return out
	}
	if err != nil {
		out.Err = err
		return out
	}
	// A chart that ships a CRD owns it: the generated one is installed only for kinds no installed chart
	// provides, so the chart installs cleanly and its own schema is the one the API server validates with.
	owned, err := e.chartCRDs(ctx)
	if err != nil {
		out.Err = err
		return out
	}
	set, left := set.Without(owned)
	if len(set.CRDs) > 0 {
		if err := deploy.InstallCRDs(ctx, e.REST(), set, time.Minute); err != nil {
			out.Err = err
			return out
		}
	}
	out.Installed, out.Sources, out.Left = set.Names(), set.Sources, left
	return out
}

// Deployment is what deploying the platform did, one AppDeploy per Application (in the order they are reported);
// check.Deploy judges it.
type Deployment struct {
	// ArgoErr stopped a deploy through Argo CD before any Application could sync (Argo CD did not start, the
	// bootstrap could not be applied): it is the whole outcome.
	ArgoErr error
	Apps    []AppDeploy
}

// AppDeploy is what deploying one Application did. At most one of Refused, Unavailable, Err, Unserved,
// WrongVersions is set; otherwise Helm or Argo says what was installed or synced.
type AppDeploy struct {
	Name string
	// Path is the in-repo chart's path (empty for upstream charts).
	Path     string
	Duration time.Duration
	// Refused: a chart was found, but not the one the Application pins (another version, a digest that does not
	// match the lock). Unavailable: no chart could be had on this machine; nothing was installed.
	Refused, Unavailable string
	// Err stopped the install (render, Helm, the wait for the chart's CRDs).
	Err error
	// Unserved are the kinds of the in-repo chart the cluster does not serve (their CRDs not installed);
	// WrongVersions its objects at an API version the cluster does not serve for their group.
	Unserved, WrongVersions []string
	Helm                    *HelmInstall
	Argo                    *ArgoSync
}

// HelmInstall is what a Helm install of one Application's chart did.
type HelmInstall struct {
	Release string
	Objects int
	// Dropped are the admission webhook and APIService objects left out on an emulated cluster.
	Dropped []string
	// Upstream charts' workloads are recorded (Workloads of them) for the placement checks.
	Upstream  bool
	Workloads int
}

// ArgoSync is what Argo CD reported about one Application after the wait.
type ArgoSync struct {
	Version string
	Wave    int
	// Done: Synced and Healthy (but for Unjudged: resources whose health Argo CD cannot judge here, each with why).
	Done     bool
	Unjudged []string
	// Found: the Application exists. HeldBy are the earlier waves' Applications that exist and are not done
	// (the app-of-apps' waves gate on them). Summary and Details are Argo CD's own words.
	Found   bool
	HeldBy  []string
	Summary string
	Details []string
	// Root is set on the root Application (platform-app): the sync as a whole.
	Root *ArgoRoot
}

// ArgoRoot is the sync of the whole platform, reported on the root Application.
type ArgoRoot struct {
	// Took is from kubectl apply of the bootstrap until every Application was done; Started how long Argo CD took
	// to start (or install).
	Took, Started          time.Duration
	BootstrapFile, Rewrite string
	// WaitErr ended the wait before every Application was done (the timeout, or the run's cancellation); LogTail
	// is then the application controller's last log lines.
	WaitErr error
	LogTail []string
}

// Deploy puts the platform's charts on the cluster the way the run asks: through the real Argo CD syncing
// helm/bootstrap.yaml when argo is set (DeployArgoCD), else each chart installed with Helm (DeployApps). The one
// deploy sequence `harness check` and the scenarios share; the CRDs come before it (InstallCRDs).
func (e *Env) Deploy(ctx context.Context, argo *ArgoCD) Deployment {
	if argo != nil {
		return e.DeployArgoCD(ctx, *argo)
	}
	return e.DeployApps(ctx)
}

// DeployApps installs every Application's chart that is here (in-repo, or from the chart sources), in sync-wave
// order; the others are reported with the reason. One AppDeploy per Application, in their order.
//
// Applications of one sync wave are installed at the same time, as Argo CD syncs them; a wave starts when the
// one before has finished (CRDs it defines established).
func (e *Env) DeployApps(ctx context.Context) Deployment {
	apps := e.Platform.Apps
	out := make([]AppDeploy, len(apps))
	for start := 0; start < len(apps); {
		end := start
		for end < len(apps) && apps[end].SyncWave == apps[start].SyncWave {
			end++
		}
		var wg sync.WaitGroup
		for i := start; i < end; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				t0 := time.Now()
				r := e.deployApp(ctx, apps[i])
				r.Duration = time.Since(t0)
				out[i] = r
			}()
		}
		wg.Wait()
		start = end
	}
	return Deployment{Apps: out}
}

// chart is where an Application's chart was found, or why it was not.
type chart struct {
	dir      string
	upstream bool
	// unavailable says why no chart could be had; refused why the chart found is not what the Application pins
	// (another version, a digest the lock does not have): either means it cannot be installed.
	unavailable, refused string
	// otherVersion is set with refused when dir holds the chart at another version than the Application pins: Argo
	// CD, served that chart, reports the missing version in its own words.
	otherVersion bool
}

// chart resolves an Application's chart once per run: in-repo charts from the repository, upstream charts from
// the chart directory, then (with Fetch) the chart cache or the repository the Application names. A chart whose
// Chart.yaml version is not the Application's targetRevision is a failure naming both: it is not what Argo CD
// would install.
func (c chart) skip() bool { return c.unavailable != "" || c.refused != "" }

// why is the reason a chart that cannot be installed is not.
func (c chart) why() string { return c.unavailable + c.refused }

func (e *Env) chart(ctx context.Context, a deploy.App) chart {
	e.chartsMu.Lock()
	defer e.chartsMu.Unlock()
	if c, ok := e.charts[a.Name]; ok {
		return c
	}
	c := e.resolveChart(ctx, a)
	if e.charts == nil {
		e.charts = map[string]chart{}
	}
	e.charts[a.Name] = c
	return c
}

// ResolveCharts finds every Application's chart (once per run) and reports whether any upstream chart will be
// installed — from the chart directory, the cache or a pull — so callers know whether chart CRDs are coming.
func (e *Env) ResolveCharts(ctx context.Context) bool {
	any := false
	for _, a := range e.Platform.Apps {
		if c := e.chart(ctx, a); !c.skip() && c.upstream {
			any = true
		}
	}
	return any
}

func (e *Env) resolveChart(ctx context.Context, a deploy.App) chart {
	skip := func(format string, args ...any) chart { return chart{unavailable: fmt.Sprintf(format, args...)} }
	refuse := func(format string, args ...any) chart { return chart{refused: fmt.Sprintf(format, args...)} }
	switch {
	case a.InRepo(platform.RepoURL):
		return chart{dir: filepath.Join(e.Platform.Root, a.Path)}
	case a.Chart == "":
		return skip("chart not fetched: %s %s from %s (a Git source outside this repository)", a.Path, a.TargetRevision, a.RepoURL)
	}
	dir := ""
	if e.Charts.Dir != "" {
		if _, err := os.Stat(filepath.Join(e.Charts.Dir, a.Chart, "Chart.yaml")); err == nil {
			dir = filepath.Join(e.Charts.Dir, a.Chart)
		}
	}
	want := e.lock.Digest(a.RepoURL, a.Chart, a.TargetRevision)
	if dir == "" && e.Charts.Cache != "" {
		if d, digest, ok := deploy.CachedChart(e.Charts.Cache, a.Chart, a.TargetRevision); ok {
			if want != "" && digest != want {
				return refuse("cached chart %s %s (%s) has sha256 %s, %s pins %s", a.Chart, a.TargetRevision, d, digest, deploy.LockFile, want)
			}
			dir = d
		}
	}
	if dir == "" && !e.Charts.Fetch {
		where := "pass --charts-dir (or HARNESS_CHARTS_DIR), run `harness charts pull` once, or --fetch-charts"
		if e.Charts.Dir != "" {
			where = "not in " + e.Charts.Dir + " nor the chart cache"
		}
		return skip("chart not fetched: %s %s from %s (%s)", a.Chart, a.TargetRevision, a.RepoURL, where)
	}
	if dir == "" {
		d, _, err := deploy.FetchChart(ctx, a.RepoURL, a.Chart, a.TargetRevision, e.Charts.Cache, want, time.Minute)
		if errors.Is(err, deploy.ErrDigestMismatch) {
			return refuse("%v", err)
		}
		if err != nil {
			return skip("chart not fetched: %v", err)
		}
		dir = d
	}
	v, err := deploy.ChartVersion(dir)
	if err != nil {
		return refuse("%v", err)
	}
	// An OCI registry is asked for the tag as written (Argo CD and helm pull resolve no semver there): a "v"
	// the chart's version does not carry names a tag that does not exist.
	oci := !strings.Contains(a.RepoURL, "://") || strings.HasPrefix(a.RepoURL, "oci://")
	if oci && v != a.TargetRevision && strings.TrimPrefix(v, "v") == strings.TrimPrefix(a.TargetRevision, "v") {
		c := refuse("chart %s from the OCI registry %s is published as version (tag) %s; targetRevision %s names a tag the registry does not have: Argo CD cannot pull it", a.Chart, a.RepoURL, v, a.TargetRevision)
		c.dir, c.otherVersion = dir, true
		return c
	}
	if strings.TrimPrefix(v, "v") != strings.TrimPrefix(a.TargetRevision, "v") {
		c := refuse("chart %s in %s is version %s, but the Application pins targetRevision %s: not what Argo CD would install", a.Chart, dir, v, a.TargetRevision)
		c.dir, c.otherVersion = dir, true
		return c
	}
	return chart{dir: dir, upstream: true}
}

func (e *Env) deployApp(ctx context.Context, a deploy.App) (out AppDeploy) {
	out.Name = "deploy/" + a.Name
	if a.InRepo(platform.RepoURL) {
		out.Path = a.Path
	}
	c := e.chart(ctx, a)
	if c.skip() {
		out.Unavailable, out.Refused = c.unavailable, c.refused
		return out
	}
	// The values against the chart are judged by check.Values on every path (not here, where only Helm passes).
	if !c.upstream {
		// An in-repo chart's custom resources need their CRDs (generated: make crds; or from a chart that ships
		// them). Kinds the cluster does not serve are reported, not a failed install.
		if out.Unserved, out.Err = e.unservedKinds(c.dir, a); out.Err != nil || len(out.Unserved) > 0 {
			return out
		}
		if out.WrongVersions, out.Err = e.wrongVersions(c.dir, a); out.Err != nil || len(out.WrongVersions) > 0 {
			return out
		}
	}
	var opts []deploy.InstallOption
	var dropped []string
	if c.upstream && e.Cluster.Emulated() {
		// Their servers are pods of the chart, which kwok emulates: no process would answer the API server, and
		// every request they match would fail (failurePolicy Fail) or wait out its timeout.
		opts = append(opts, deploy.DropWebhooksInto(&dropped))
	}
	objs, err := deploy.Install(ctx, e.Cluster.Kubeconfig(), c.dir, deploy.Release{Name: a.Name, Namespace: a.Namespace, KubeVersion: e.Platform.Shape.KubernetesVersion}, a.Values, opts...)
	if err != nil {
		out.Err = err
		return out
	}
	// The next sync wave may create custom resources of kinds this chart defines in its templates.
	if err := deploy.WaitCRDs(ctx, e.REST(), objs, time.Minute); err != nil {
		out.Err = fmt.Errorf("helm install %s: %w", a.Name, err)
		return out
	}
	h := &HelmInstall{Release: a.Name, Objects: len(objs), Dropped: dropped, Upstream: c.upstream}
	if c.upstream {
		ws, err := deploy.Workloads(objs)
		if err != nil {
			out.Err = fmt.Errorf("workloads of chart %s: %w", a.Chart, err)
			return out
		}
		for i := range ws {
			ws[i].Source = fmt.Sprintf("chart %s %s (Application %s)", a.Chart, a.TargetRevision, a.Name)
			if ws[i].Namespace == "" { // rendered without metadata.namespace: Helm puts it in the release's
				ws[i].Namespace = a.Namespace
			}
		}
		e.chartsMu.Lock()
		if e.installed == nil {
			e.installed = map[string][]deploy.Workload{}
		}
		e.installed[a.Name] = ws
		e.chartsMu.Unlock()
		h.Workloads = len(ws)
	}
	out.Helm = h
	return out
}

// chartCRDs maps each CRD that an installable upstream chart ships to that chart: the chart owns it.
func (e *Env) chartCRDs(ctx context.Context) (map[string]string, error) {
	owned := map[string]string{}
	for _, a := range e.Platform.Apps {
		c := e.chart(ctx, a)
		if c.skip() || !c.upstream {
			continue
		}
		names, err := deploy.ChartCRDs(c.dir, deploy.Release{Name: a.Name, Namespace: a.Namespace, KubeVersion: e.Platform.Shape.KubernetesVersion}, a.Values)
		if err != nil {
			return nil, fmt.Errorf("CRDs of chart %s: %w", a.Chart, err)
		}
		for _, n := range names {
			owned[n] = a.Chart
		}
	}
	return owned, nil
}

// WorkflowApply is what creating the workflow manifests did; check.Workflows judges it.
type WorkflowApply struct {
	// RealCluster: the cluster is not emulated, so nothing was created (it would start real GPU work).
	RealCluster bool
	// Err is what stopped it before any manifest was created.
	Err error
	// Applied were created (or existed), Unserved are of kinds the cluster does not serve (CRDs not installed),
	// Problems the API server refused, each with its reason.
	Applied, Unserved, Problems []string
}

// ApplyWorkflows creates the workflow manifests (workflows/*/*.yaml: RayJob, RayService, InferenceService) in
// the cluster for real, as `kubectl apply` would on EKS, with strict field validation. Here no operator acts on
// them: their pod templates are placed by the probes. On a cluster that is not emulated it creates nothing.
func (e *Env) ApplyWorkflows(ctx context.Context) (out WorkflowApply) {
	if !e.Cluster.Emulated() {
		out.RealCluster = true
		return out
	}
	res, err := deploy.NewResources(e.REST())
	if err != nil {
		out.Err = err
		return out
	}
	for _, o := range e.Platform.Objects {
		if !strings.HasPrefix(filepath.ToSlash(o.Source), "workflows/") {
			continue
		}
		c, err := res.For(o.Unstructured)
		if meta.IsNoMatchError(err) {
			out.Unserved = append(out.Unserved, fmt.Sprintf("%s (%s)", o, o.Source))
			continue
		}
		if err == nil {
			_, err = c.Create(ctx, o.DeepCopy(), metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict})
		}
		if err != nil && !apierrors.IsAlreadyExists(err) {
			out.Problems = append(out.Problems, fmt.Sprintf("%s (%s): %v", o, o.Source, err))
			continue
		}
		out.Applied = append(out.Applied, o.String())
	}
	return out
}

// Rendered is one Application's chart rendered as `helm template` would, without a cluster.
type Rendered struct {
	App     deploy.App
	Objects []deploy.Object
	// Values are what the chart rendered with: the Application's values over the chart's defaults.
	Values map[string]any
}

// RenderCharts renders every upstream Application's chart (resolved as for the deploy) with its values, and the
// in-repo objects the model already holds; an Application whose chart cannot be had is listed in skipped with the
// reason.
func (e *Env) RenderCharts(ctx context.Context) ([]Rendered, []string) {
	e.renderOnce.Do(func() { e.rendered, e.renderSkipped = e.RenderChartsAt(ctx, e.Platform.Shape.KubernetesVersion) })
	return e.rendered, e.renderSkipped
}

// RenderChartsAt renders every upstream chart as RenderCharts does, for Kubernetes version (not cached): what
// Argo CD renders once the cluster runs that version (the upgrade rehearsal's target).
func (e *Env) RenderChartsAt(ctx context.Context, version string) (out []Rendered, skipped []string) {
	for _, a := range e.Platform.Apps {
		c := e.chart(ctx, a)
		if c.skip() {
			skipped = append(skipped, fmt.Sprintf("%s: %s", a.Name, c.why()))
			continue
		}
		if !c.upstream {
			continue
		}
		objs, err := deploy.Render(c.dir, deploy.Release{Name: a.Name, Namespace: a.Namespace, KubeVersion: version}, nil, a.Values)
		if err != nil {
			skipped = append(skipped, fmt.Sprintf("%s: render chart %s: %v", a.Name, a.Chart, err))
			continue
		}
		vals, err := deploy.MergedValues(c.dir, a.Values)
		if err != nil {
			skipped = append(skipped, fmt.Sprintf("%s: values of chart %s: %v", a.Name, a.Chart, err))
			continue
		}
		for i := range objs {
			objs[i].Source = fmt.Sprintf("chart %s %s (Application %s): %s", a.Chart, a.TargetRevision, a.Name, objs[i].Source)
			if objs[i].GetNamespace() == "" && deploy.Namespaced(objs[i].GetKind()) {
				objs[i].SetNamespace(a.Namespace)
			}
		}
		out = append(out, Rendered{App: a, Objects: objs, Values: vals})
	}
	return out, skipped
}

// ChartDir is the directory of the Application's chart as the deploy resolves it (in-repo or upstream at its
// pinned version), or why it cannot be had.
func (e *Env) ChartDir(ctx context.Context, a deploy.App) (dir string, skipped string) {
	c := e.chart(ctx, a)
	if c.skip() {
		return "", c.why()
	}
	return c.dir, ""
}

// ChartRefused reports whether the Application's chart was found but is not what it pins (another version, a
// digest that does not match the lock): a mistake, not a chart this machine lacks.
func (e *Env) ChartRefused(ctx context.Context, a deploy.App) bool {
	c := e.chart(ctx, a)
	return c.refused != ""
}

// wrongVersions renders the in-repo chart and lists its objects whose group the cluster serves at other versions
// only (karpenter.sh/v1beta1 where Karpenter v1 serves v1): a mistake, not a missing CRD.
func (e *Env) wrongVersions(dir string, a deploy.App) ([]string, error) {
	objs, err := deploy.Render(dir, deploy.Release{Name: a.Name, Namespace: a.Namespace, KubeVersion: e.Platform.Shape.KubernetesVersion}, nil, a.Values)
	if err != nil {
		return nil, fmt.Errorf("render %s: %w", a.Path, err)
	}
	groups, err := e.clientset.Discovery().ServerGroups()
	if err != nil {
		return nil, err
	}
	served := map[string][]string{}
	for _, g := range groups.Groups {
		for _, v := range g.Versions {
			served[g.Name] = append(served[g.Name], v.Version)
		}
	}
	var out []string
	for _, o := range objs {
		gv := o.GroupVersionKind()
		if vs, ok := served[gv.Group]; ok && gv.Group != "" && !slices.Contains(vs, gv.Version) {
			out = append(out, fmt.Sprintf("%s %s (%s): %s is served at %s only", o.GetKind(), o.GetName(), o.Source, gv.Group, strings.Join(vs, ", ")))
		}
	}
	return out, nil
}

// unservedKinds renders the in-repo chart and lists the kinds of its objects the cluster does not serve.
func (e *Env) unservedKinds(dir string, a deploy.App) ([]string, error) {
	objs, err := deploy.Render(dir, deploy.Release{Name: a.Name, Namespace: a.Namespace, KubeVersion: e.Platform.Shape.KubernetesVersion}, nil, a.Values)
	if err != nil {
		return nil, fmt.Errorf("render %s: %w", a.Path, err)
	}
	res, err := deploy.NewResources(e.REST())
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	for _, o := range objs {
		gvk := o.GroupVersionKind().String()
		if seen[gvk] {
			continue
		}
		seen[gvk] = true
		if _, err := res.For(o.Unstructured); meta.IsNoMatchError(err) {
			if gs, err := e.clientset.Discovery().ServerGroups(); err == nil && groupServed(gs, o.GroupVersionKind().Group) {
				continue // served at another version: wrongVersions names it
			}
			out = append(out, o.GetKind()+" ("+o.GetAPIVersion()+")")
		}
	}
	return out, nil
}

func groupServed(gs *metav1.APIGroupList, group string) bool {
	for _, g := range gs.Groups {
		if g.Name == group {
			return true
		}
	}
	return false
}

// DryRunApply applies objs over what runs as Argo CD's sync does (server-side apply, its field manager, forced),
// in dry-run mode, and returns the API server's refusals, one line per refused object. Argo CD itself may report
// such an object's Application Synced (argoproj/argo-cd#28722: a server-side dry run refused on an immutable field
// leaves the last status standing).
func (e *Env) DryRunApply(ctx context.Context, objs []deploy.Object) ([]string, error) {
	res, err := deploy.NewResources(e.REST())
	if err != nil {
		return nil, err
	}
	var out []string
	for _, o := range objs {
		ri, err := res.For(o.Unstructured)
		if err == nil {
			_, err = ri.Apply(ctx, o.GetName(), o.DeepCopy(), metav1.ApplyOptions{FieldManager: "argocd-controller", Force: true, DryRun: []string{metav1.DryRunAll}})
		}
		if err != nil {
			out = append(out, fmt.Sprintf("%s %s/%s: %v", o.GetKind(), o.GetNamespace(), o.GetName(), err))
		}
	}
	return out, nil
}
