package engine

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"
	"unicode"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/controllers/argocd"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/deploy"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/platform"
)

// ArgoCD says how to run Argo CD for a deploy through it.
type ArgoCD struct {
	// Binary, HelmDir, CRDsDir: Argo CD run as processes beside the cluster (make argocd).
	Binary, HelmDir, CRDsDir string
	// InstallManifest, instead, installs Argo CD into the cluster from its release manifest (a real cluster with
	// network: the nightly), as the runbook does; the Applications then keep their repositories and destination,
	// and the root Application tracks Revision (the commit under test).
	InstallManifest, Revision string
	// Dir holds the served repositories and the processes' logs (the run directory).
	Dir string
	// Timeout bounds the wait for every Application to be Synced and Healthy.
	Timeout time.Duration
	// Progress receives one line per phase; nil discards.
	Progress func(format string, args ...any)
}

var applicationsGVR = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "applications"}

// DeployArgoCD deploys the platform as the runbook does: the real Argo CD (application controller and repo
// server) runs against the cluster, helm/bootstrap.yaml is applied, and the app-of-apps syncs every Application
// in its waves. What Argo CD reads is served on 127.0.0.1: a snapshot commit of the working tree as a Git
// repository and the pinned upstream charts as a Helm repository. The one change to what the platform declares
// is the source rewrite (reported in the result): the root Application and the AppProject point at the served
// repositories, and the app-of-apps gets the GitOps Bridge, the served Git URL and commit, and each upstream
// chart's served repository as values — never an edit of the files.
func (e *Env) DeployArgoCD(ctx context.Context, cfg ArgoCD) Deployment {
	if cfg.InstallManifest != "" {
		return e.deployArgoCDInCluster(ctx, cfg, progressOf(cfg))
	}
	s, err := e.StartArgoCD(ctx, cfg)
	if err != nil {
		return Deployment{ArgoErr: err}
	}
	defer s.Close()
	return s.Sync(ctx, e)
}

func progressOf(cfg ArgoCD) func(string, ...any) {
	if cfg.Progress == nil {
		return func(string, ...any) {}
	}
	return cfg.Progress
}

// ArgoSession is the real Argo CD running beside the cluster for one or more syncs: `harness diff` syncs the base
// revision, then the change over it, as Argo CD does after a merge.
type ArgoSession struct {
	cfg     ArgoCD
	srv     *argocd.Server
	server  string
	t0      time.Time
	n       int
	closers []func() error
}

// StartArgoCD starts Argo CD (with e's platform's settings) and registers the cluster with it; Close stops it.
func (e *Env) StartArgoCD(ctx context.Context, cfg ArgoCD) (*ArgoSession, error) {
	t0 := time.Now()
	srv, err := argocd.Start(ctx, e.REST(), argocd.Config{Binary: cfg.Binary, HelmDir: cfg.HelmDir, CRDsDir: cfg.CRDsDir,
		Kubeconfig: e.Cluster.Kubeconfig(), Dir: filepath.Join(cfg.Dir, "argocd"), ExcludeWebhooks: e.Cluster.Emulated(),
		Settings: e.argoSettings()})
	if err != nil {
		return nil, fmt.Errorf("start Argo CD %s: %w", argocd.Version, err)
	}
	progressOf(cfg)("Argo CD %s started in %s (application controller, repo server, in-process Redis)", argocd.Version, srv.Started.Round(100*time.Millisecond))
	server, err := argocd.RegisterCluster(ctx, e.REST())
	if err != nil {
		_ = srv.Stop()
		return nil, fmt.Errorf("register the cluster with Argo CD: %w", err)
	}
	return &ArgoSession{cfg: cfg, srv: srv, server: server, t0: t0}, nil
}

// SetTimeout bounds the next syncs' wait for every Application to be Synced and Healthy.
func (s *ArgoSession) SetTimeout(d time.Duration) { s.cfg.Timeout = d }

// Close stops serving the repositories and stops Argo CD.
func (s *ArgoSession) Close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		_ = s.closers[i]()
	}
	s.closers = nil
	_ = s.srv.Stop()
}

// Sync serves e's platform (its working tree as a Git repository, its upstream charts as a Helm repository) at
// new URLs, applies its bootstrap pointing there, and waits until every Application it enables is Synced and
// Healthy from the new sources — what Argo CD does when the root Application's revision moves.
func (s *ArgoSession) Sync(ctx context.Context, e *Env) Deployment {
	p := e.Platform
	cfg := s.cfg
	fail := func(format string, args ...any) Deployment { return Deployment{ArgoErr: fmt.Errorf(format, args...)} }
	// Charts: what cannot be had is disabled (its Application reported with the reason), the rest is served.
	var out []AppDeploy
	var dirs []string
	disabled := map[string]bool{}
	for _, a := range p.Apps {
		c := e.chart(ctx, a)
		switch {
		case c.otherVersion: // served as it is: Argo CD itself finds the pinned version missing
			dirs = append(dirs, c.dir)
		case c.skip():
			out = append(out, AppDeploy{Name: "deploy/" + a.Name, Unavailable: c.unavailable, Refused: c.refused})
			disabled[a.Name] = true
		case c.upstream:
			dirs = append(dirs, c.dir)
		}
	}
	s.n++
	sub := func(name string) string {
		if s.n == 1 {
			return filepath.Join(cfg.Dir, name)
		}
		return filepath.Join(cfg.Dir, fmt.Sprintf("%s-%d", name, s.n))
	}
	git, err := argocd.ServeGit(ctx, p.Root, []string{"helm", "workflows"}, sub("git"))
	if err != nil {
		return fail("%w", err)
	}
	s.closers = append(s.closers, git.Close)
	charts, err := deploy.ServeCharts(sub("charts"), dirs)
	if err != nil {
		return fail("%w", err)
	}
	s.closers = append(s.closers, charts.Close)
	objs, rewrite, err := bootstrap(p, rewriteTo{gitURL: git.URL, revision: git.Revision, chartsURL: charts.URL, server: s.server, disabled: disabled})
	if err != nil {
		return fail("%w", err)
	}
	t0 := s.t0
	if s.n > 1 {
		t0 = time.Now()
	}
	d := e.syncBootstrap(ctx, objs, rewrite, disabled, cfg, progressOf(cfg), t0, s.srv.Started, s.srv.LogTail, map[string]bool{git.URL: true, charts.URL: true})
	if d.ArgoErr == nil {
		d.Apps = append(out, d.Apps...)
	}
	return d
}

// deployArgoCDInCluster installs Argo CD from its release manifest into a real cluster, then syncs the bootstrap
// with the root Application at the commit under test.
func (e *Env) deployArgoCDInCluster(ctx context.Context, cfg ArgoCD, progress func(string, ...any)) Deployment {
	fail := func(format string, args ...any) Deployment { return Deployment{ArgoErr: fmt.Errorf(format, args...)} }
	t0 := time.Now()
	if err := argocd.Install(ctx, e.REST(), cfg.InstallManifest, e.Platform.ArgoCDSettings); err != nil {
		return fail("install Argo CD from %s: %w", cfg.InstallManifest, err)
	}
	installed := time.Since(t0)
	progress("Argo CD installed from %s in %s", cfg.InstallManifest, installed.Round(100*time.Millisecond))
	objs, rewrite, err := bootstrap(e.Platform, rewriteTo{revision: cfg.Revision})
	if err != nil {
		return fail("%w", err)
	}
	return e.syncBootstrap(ctx, objs, rewrite, nil, cfg, progress, t0, installed, func(int) []string { return nil }, nil)
}

// syncBootstrap applies the bootstrap objects (kubectl apply, server-side), waits until every enabled
// Application is Synced and Healthy (from one of sources, when given: the repositories this sync serves),
// records the charts' workloads for the placement checks, and reports what Argo CD said about each Application
// (the root one first).
func (e *Env) syncBootstrap(ctx context.Context, objs []*unstructured.Unstructured, rewrite string, disabled map[string]bool,
	cfg ArgoCD, progress func(string, ...any), t0 time.Time, started time.Duration, logTail func(int) []string, sources map[string]bool) Deployment {
	p := e.Platform
	fail := func(format string, args ...any) Deployment { return Deployment{ArgoErr: fmt.Errorf(format, args...)} }
	res, err := deploy.NewResources(e.REST())
	if err != nil {
		return fail("%w", err)
	}
	tApply := time.Now()
	for _, o := range objs {
		ri, err := res.For(o)
		if err != nil {
			return fail("%s: %w", p.BootstrapFile, err)
		}
		if _, err := ri.Apply(ctx, o.GetName(), o, metav1.ApplyOptions{FieldManager: "harness", Force: true}); err != nil {
			return fail("kubectl apply -f %s: %s/%s: %w", p.BootstrapFile, o.GetKind(), o.GetName(), err)
		}
	}
	progress("applied %s (%s)", p.BootstrapFile, rewrite)
	want := []string{"platform-app"}
	for _, a := range p.Apps {
		if !disabled[a.Name] {
			want = append(want, a.Name)
		}
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = 5 * time.Minute
	}
	dyn, err := dynamic.NewForConfig(e.REST())
	if err != nil {
		return fail("%w", err)
	}
	states, waitErr := waitApplications(ctx, dyn, want, timeout, e.Cluster.Emulated(), sources)
	took := time.Since(tApply)
	waves := map[string]int{}
	for _, a := range p.Apps {
		waves[a.Name] = a.SyncWave
	}
	// The pods Argo CD's sync created are judged like installed charts' (same chart, same values, same Helm).
	e.recordSynced(ctx, func(app string) bool { return states[app].done() }, "synced by Argo CD")
	var out Deployment
	for _, name := range want {
		st := states[name]
		s := &ArgoSync{Version: argocd.Version, Wave: waves[name], Done: st.done(), Found: st.found, Summary: st.summary(), Details: st.details()}
		if s.Done {
			s.Unjudged = st.unjudged
		}
		if !st.found {
			// Never created behind an earlier wave that is not Healthy: the app-of-apps' waves gate (the
			// platform's Application health check).
			for _, other := range want {
				if o := states[other]; o.found && !o.done() && waves[other] < waves[name] {
					s.HeldBy = append(s.HeldBy, fmt.Sprintf("%s (wave %d)", other, waves[other]))
				}
			}
		}
		if name == "platform-app" {
			s.Root = &ArgoRoot{Took: took, Started: started, BootstrapFile: p.BootstrapFile, Rewrite: rewrite, WaitErr: waitErr}
			if waitErr != nil {
				s.Root.LogTail = logTail(20)
			}
		}
		out.Apps = append(out.Apps, AppDeploy{Name: "deploy/" + name, Duration: time.Since(t0), Argo: s})
	}
	return out
}

// recordSynced records the workloads of the upstream charts of the Applications synced says are on the cluster
// (how: "synced by Argo CD"), for the placement checks.
func (e *Env) recordSynced(ctx context.Context, synced func(app string) bool, how string) {
	rendered, _ := e.RenderCharts(ctx)
	for _, rc := range rendered {
		if !synced(rc.App.Name) {
			continue
		}
		ws, err := deploy.Workloads(rc.Objects)
		if err != nil {
			continue
		}
		for i := range ws {
			ws[i].Source = fmt.Sprintf("chart %s %s (Application %s, %s)", rc.App.Chart, rc.App.TargetRevision, rc.App.Name, how)
			if ws[i].Namespace == "" {
				ws[i].Namespace = rc.App.Namespace
			}
		}
		e.chartsMu.Lock()
		if e.installed == nil {
			e.installed = map[string][]deploy.Workload{}
		}
		e.installed[rc.App.Name] = ws
		e.chartsMu.Unlock()
	}
}

// rewriteTo is where the bootstrap's sources and destination point: empty fields keep what the platform declares.
type rewriteTo struct {
	gitURL, revision, chartsURL, server string
	disabled                            map[string]bool
}

// bootstrap returns helm/bootstrap.yaml's objects with the source rewrite applied, and a description of it. The
// environment's values file and the GitOps Bridge (global.aws) are always given, as the runbook's bridge step does.
func bootstrap(p *platform.Platform, to rewriteTo) ([]*unstructured.Unstructured, string, error) {
	apps := map[string]any{}
	var upstream []string
	for _, a := range p.Apps {
		key := camel(a.Name)
		switch {
		case to.disabled[a.Name]:
			apps[key] = map[string]any{"enabled": false}
		case to.chartsURL != "" && !a.InRepo(platform.RepoURL) && a.Chart != "":
			apps[key] = map[string]any{"source": map[string]any{"repoURL": to.chartsURL}}
			upstream = append(upstream, a.Name)
		}
	}
	sort.Strings(upstream)
	global := map[string]any{"aws": p.Bridge.Values, "targetRevision": to.revision}
	if to.gitURL != "" {
		global["repoURL"] = to.gitURL
	}
	if to.server != "" {
		global["destinationServer"] = to.server
	}
	values := map[string]any{"global": global}
	if len(apps) > 0 {
		values["applications"] = apps
	}
	var extraRepos []string
	for _, r := range []string{to.gitURL, to.chartsURL} {
		if r != "" {
			extraRepos = append(extraRepos, r)
		}
	}
	var out []*unstructured.Unstructured
	for _, o := range p.Bootstrap {
		u := o.DeepCopy()
		switch u.GetKind() {
		case "AppProject":
			repos, _, _ := unstructured.NestedStringSlice(u.Object, "spec", "sourceRepos")
			if err := unstructured.SetNestedStringSlice(u.Object, append(repos, extraRepos...), "spec", "sourceRepos"); err != nil {
				return nil, "", err
			}
			if to.server != "" {
				dests, _, _ := unstructured.NestedSlice(u.Object, "spec", "destinations")
				for _, d := range append([]any(nil), dests...) {
					if m, ok := d.(map[string]any); ok && m["server"] == "https://kubernetes.default.svc" {
						dests = append(dests, map[string]any{"server": to.server, "namespace": m["namespace"]})
					}
				}
				if err := unstructured.SetNestedSlice(u.Object, dests, "spec", "destinations"); err != nil {
					return nil, "", err
				}
			}
		case "Application":
			set := map[string]any{"targetRevision": to.revision}
			if to.gitURL != "" {
				set["repoURL"] = to.gitURL
			}
			for k, v := range set {
				if err := unstructured.SetNestedField(u.Object, v, "spec", "source", k); err != nil {
					return nil, "", err
				}
			}
			if to.server != "" {
				if err := unstructured.SetNestedField(u.Object, to.server, "spec", "destination", "server"); err != nil {
					return nil, "", err
				}
			}
			if err := unstructured.SetNestedStringSlice(u.Object, []string{"../values/" + p.Env + ".yaml"}, "spec", "source", "helm", "valueFiles"); err != nil {
				return nil, "", err
			}
			if err := unstructured.SetNestedField(u.Object, runtime.DeepCopyJSON(values), "spec", "source", "helm", "valuesObject"); err != nil {
				return nil, "", err
			}
		}
		out = append(out, u)
	}
	desc := fmt.Sprintf("revision %.12s, values ../values/%s.yaml, the GitOps Bridge as global.aws", to.revision, p.Env)
	if to.gitURL != "" {
		desc = fmt.Sprintf("repository %s served as %s at the snapshot %.12s, values ../values/%s.yaml, the GitOps Bridge as global.aws", platform.RepoURL, to.gitURL, to.revision, p.Env)
	}
	if to.chartsURL != "" {
		desc += fmt.Sprintf(", charts of %s from %s", strings.Join(upstream, ", "), to.chartsURL)
	}
	if to.server != "" {
		desc += fmt.Sprintf(", destination https://kubernetes.default.svc as %s (Argo CD runs outside the cluster)", to.server)
	}
	return out, desc, nil
}

// noController are kinds whose health only their controller can bring about, and whose controller does not run
// on an emulated cluster during the sync (kwok "runs" cert-manager's pods, which execute nothing): Argo CD does not
// judge their health there, and the result says why (the value).
var noController = map[string]string{
	"cert-manager.io/Certificate":   "cert-manager's controller does not run on the emulated cluster",
	"cert-manager.io/Issuer":        "cert-manager's controller does not run on the emulated cluster",
	"cert-manager.io/ClusterIssuer": "cert-manager's controller does not run on the emulated cluster",
	// The Karpenter AWS provider resolves an EC2NodeClass (subnets, security groups, AMIs, instance profile) against
	// EC2 and marks its NodePools ready. It runs after the sync, in the karpenter step, which judges them: the AWS
	// provider against moto when built (its own conditions), else the generic kwok provider on translated NodePools.
	"karpenter.k8s.aws/EC2NodeClass": "judged after the sync by the karpenter step",
	"karpenter.sh/NodePool":          "judged after the sync by the karpenter step",
}

// notJudged starts the health message the emulated Argo CD gives resources of noController kinds.
const notJudged = "not judged by Argo CD on the emulated cluster"

// argoSettings are the platform's argocd-cm settings (helm/argocd/argocd-cm.yaml, as the runbook applies them),
// on an emulated cluster without the Application health check: with it the app-of-apps' waves gate, and a wave
// holding a resource that cannot become Healthy here (a StatefulSet's pod, an EC2NodeClass, a Certificate whose
// controller does not run) would hide every later wave's verdict; the gating itself is judged statically
// (argocd-sync) and happens on EKS. Resources of noController kinds get a fixed Healthy there, and the results list
// them as not judged.
func (e *Env) argoSettings() map[string]string {
	out := map[string]string{}
	for k, v := range e.Platform.ArgoCDSettings {
		out[k] = v
	}
	if !e.Cluster.Emulated() {
		return out
	}
	delete(out, "resource.customizations.health.argoproj.io_Application")
	for gk := range noController {
		group, kind, _ := strings.Cut(gk, "/")
		out["resource.customizations.health."+group+"_"+kind] = fmt.Sprintf("hs = {status = \"Healthy\", message = %q}\nreturn hs\n", notJudged)
	}
	return out
}

// appState is what Argo CD reports about one Application.
type appState struct {
	found                bool
	sync, health, phase  string
	opMessage, healthMsg string
	conditions           []string
	// excluded are Argo CD's warnings about the resources excluded by the settings (webhooks on emulated
	// clusters): expected, listed last.
	excluded  []string
	unhealthy []string
	// unjudged are the resources of noController kinds (emulated clusters only).
	unjudged []string
	// comparedTo is the repository the sync status was computed from; stale says it is not one of this sync's.
	comparedTo string
	stale      bool
	// errored: a condition of an error type stands (its message is among conditions).
	errored bool
}

func (s appState) done() bool {
	return s.found && !s.stale && !s.errored && s.sync == "Synced" && (s.health == "Healthy" || (len(s.unhealthy) == 0 && len(s.unjudged) > 0))
}

func (s appState) summary() string {
	if !s.found {
		return "the Application was never created (the app-of-apps did not render or sync it)"
	}
	msg := fmt.Sprintf("sync %s, health %s", orDash(s.sync), orDash(s.health))
	if s.stale {
		msg += fmt.Sprintf(" (still compared with %s, not this sync's sources)", orDash(s.comparedTo))
	}
	if s.phase != "" {
		msg += ", operation " + s.phase
	}
	if len(s.conditions) > 0 {
		return msg + ": " + s.conditions[0]
	}
	for _, m := range []string{s.opMessage, s.healthMsg} {
		if m != "" {
			return msg + ": " + m
		}
	}
	if len(s.unhealthy) > 0 {
		return msg + ": " + s.unhealthy[0]
	}
	return msg
}

func (s appState) details() []string {
	return append(append(append([]string(nil), s.conditions...), s.unhealthy...), s.excluded...)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// waitApplications polls the Applications until every one in want is Synced and Healthy (compared with one of
// sources, when given) or the timeout.
func waitApplications(ctx context.Context, dyn dynamic.Interface, want []string, timeout time.Duration, emulated bool, sources map[string]bool) (map[string]appState, error) {
	deadline := time.Now().Add(timeout)
	for {
		states := map[string]appState{}
		list, err := dyn.Resource(applicationsGVR).Namespace(argocd.Namespace).List(ctx, metav1.ListOptions{})
		if err == nil {
			for _, it := range list.Items {
				st := readState(it.Object, emulated)
				if sources != nil && !sources[st.comparedTo] {
					// Still the state of the sources before this sync (the base, in a diff): not yet its verdict.
					st.stale = true
				}
				states[it.GetName()] = st
			}
		}
		all := true
		for _, n := range want {
			all = all && states[n].done()
		}
		if all {
			return states, nil
		}
		if time.Now().After(deadline) {
			return states, fmt.Errorf("not every Application Synced and Healthy within %s", timeout)
		}
		select {
		case <-ctx.Done():
			return states, context.Cause(ctx)
		case <-time.After(time.Second):
		}
	}
}

func readState(obj map[string]any, emulated bool) appState {
	s := appState{found: true}
	s.sync, _, _ = unstructured.NestedString(obj, "status", "sync", "status")
	s.comparedTo, _, _ = unstructured.NestedString(obj, "status", "sync", "comparedTo", "source", "repoURL")
	s.health, _, _ = unstructured.NestedString(obj, "status", "health", "status")
	s.healthMsg, _, _ = unstructured.NestedString(obj, "status", "health", "message")
	s.phase, _, _ = unstructured.NestedString(obj, "status", "operationState", "phase")
	if s.phase != "Succeeded" {
		s.opMessage, _, _ = unstructured.NestedString(obj, "status", "operationState", "message")
	}
	conds, _, _ := unstructured.NestedSlice(obj, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok {
			line := fmt.Sprintf("%v: %v", m["type"], m["message"])
			if m["type"] == "ExcludedResourceWarning" {
				s.excluded = append(s.excluded, line)
				continue
			}
			if t, _ := m["type"].(string); strings.HasSuffix(t, "Error") {
				// ComparisonError, SyncError, InvalidSpecError, ...: Argo CD may go on reporting the last Synced and
				// Healthy status while it cannot compare (with ServerSideApply, a server-side dry run refused on an
				// immutable field: argoproj/argo-cd#28722), so the Application is not done while one stands.
				s.errored = true
			}
			s.conditions = append(s.conditions, line)
		}
	}
	res, _, _ := unstructured.NestedSlice(obj, "status", "resources")
	for _, r := range res {
		m, ok := r.(map[string]any)
		if !ok {
			continue
		}
		h, _ := m["health"].(map[string]any)
		// Their health is argoSettings' fixed Healthy here: every one of them is not judged.
		if why, ok := noController[fmt.Sprintf("%v/%v", m["group"], m["kind"])]; ok && emulated {
			name := fmt.Sprint(m["name"])
			if ns, _ := m["namespace"].(string); ns != "" {
				name = ns + "/" + name
			}
			s.unjudged = append(s.unjudged, fmt.Sprintf("%v %s (%s)", m["kind"], name, why))
			continue
		}
		if st, _ := h["status"].(string); st != "" && st != "Healthy" {
			line := fmt.Sprintf("%v %v/%v: %s %v", m["kind"], m["namespace"], m["name"], st, h["message"])
			s.unhealthy = append(s.unhealthy, line)
		}
	}
	return s
}

// camel turns an Application name back into its key under `applications` (kube-downscaler -> kubeDownscaler).
func camel(name string) string {
	var sb strings.Builder
	up := false
	for _, r := range name {
		if r == '-' {
			up = true
			continue
		}
		if up {
			r = unicode.ToUpper(r)
			up = false
		}
		sb.WriteRune(r)
	}
	return sb.String()
}
