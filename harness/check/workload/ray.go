package workload

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"gopkg.in/yaml.v3"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apiresource "k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/controllers/kuberay"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/deploy"
	freeport "github.com/eks-mlops/eks-mlops-enterprise-grade/harness/internal/ports"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/internal/proc"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/platform"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/pyenv"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/smoke"
)

// The changes the local run makes to the Ray manifests, said in the results: KubeRay submits over HTTP (the K8s
// submitter Job's pod would need a container runtime), the code runs on CPU (no GPU on this machine), and the
// runtime_env's pip list is dropped: the head runs in the ray lock's virtualenv, whose versions consistency/code
// proves equal to those pins (Ray would otherwise clone that 6 GB virtualenv per runtime_env to install nothing).
const (
	localSubmission = "HTTPMode"
	cpuSwitch       = "USE_GPU"
	serveGPUs       = "NUM_GPUS"
)

// rayHead is the local Ray head KubeRay's dashboard and Serve proxy clients are pointed at.
type rayHead struct {
	env       pyenv.Env
	proc      *proc.Process
	gcs       string // 127.0.0.1:port
	dashboard string // http://127.0.0.1:port
	serve     int    // Serve's HTTP proxy port (once started)
	tmp       string
}

// rayWorkloads returns the RayJobs and RayServices of workflows/ (after the bridge's substitution).
func (t *Tier) rayWorkloads(kind string) []deploy.Object { return rayWorkloads(t.cfg.Platform, kind) }

func rayWorkloads(p *platform.Platform, kind string) []deploy.Object {
	var out []deploy.Object
	for _, o := range p.Objects {
		if o.GetKind() == kind && o.GroupVersionKind().Group == "ray.io" && strings.HasPrefix(filepath.ToSlash(o.Source), "workflows/") {
			out = append(out, o)
		}
	}
	return out
}

// rayReady prepares what both Ray steps need, once: the Ray head (headReady), then the real KubeRay operator
// against the cluster.
func (t *Tier) rayReady(ctx context.Context) (*rayHead, error) {
	h, err := t.headReady(ctx)
	if err != nil {
		return nil, err
	}
	t.rayOnce.Do(func() { t.rayErr = t.startOperator(ctx, h) })
	if t.rayErr != nil {
		return nil, t.rayErr
	}
	return h, nil
}

// StartRayHead starts what the Ray steps need that does not touch the cluster — the runtime, the S3 emulator with
// the workflow code uploaded where the manifests' working_dir points, the Ray head — when the workflows hold Ray
// objects. The check calls it while its cluster steps still run; the outcome (an error included) is the Ray
// steps' to report, as if they had started it themselves.
func (t *Tier) StartRayHead(ctx context.Context) {
	if len(t.rayWorkloads("RayJob"))+len(t.rayWorkloads("RayService")) > 0 {
		_, _ = t.headReady(ctx)
	}
}

// headReady starts the Ray head once (startHeadOnce); later calls return its outcome.
func (t *Tier) headReady(ctx context.Context) (*rayHead, error) {
	t.headOnce.Do(func() { t.ray, t.headErr = t.startHeadOnce(ctx) })
	return t.ray, t.headErr
}

func (t *Tier) startHeadOnce(ctx context.Context) (*rayHead, error) {
	if t.cfg.Rest == nil || t.cfg.Kubeconfig == "" {
		return nil, skip("no emulated cluster for the KubeRay operator to reconcile on (on a real cluster the nightly's smoke tests run the Ray workloads)")
	}
	if _, err := os.Stat(t.cfg.KubeRay); err != nil {
		return nil, skip("KubeRay operator not built (make kuberay): %v", err)
	}
	env, err := t.runtime(ctx, "ray")
	if err != nil {
		return nil, err
	}
	if err := t.s3Emulator(ctx); err != nil {
		return nil, skip("S3 emulator: %v", err)
	}
	shipped, err := ShipCode(ctx, t.s3, t.cfg.Platform)
	if err != nil {
		return nil, err
	}
	for _, s := range shipped {
		t.progress("workload/ray: %s (the runtime_env working_dir, zipped)", s)
	}
	return t.startHead(ctx, env)
}

// startOperator starts the real KubeRay operator against the cluster, its dashboard client pointed at the head.
func (t *Tier) startOperator(ctx context.Context, h *rayHead) error {
	// The workflow manifests the deploy step applied (no operator ran then) would be reconciled the moment the
	// operator starts, and hold the GPU node: the steps submit their own copies instead.
	dyn, err := dynamic.NewForConfig(t.cfg.Rest)
	if err != nil {
		return err
	}
	for _, gvr := range []struct{ kind, res string }{{"RayJob", "rayjobs"}, {"RayService", "rayservices"}} {
		for _, o := range t.rayWorkloads(gvr.kind) {
			err := dyn.Resource(smoke.RayJobs.GroupVersion().WithResource(gvr.res)).Namespace(o.GetNamespace()).Delete(ctx, o.GetName(), metav1.DeleteOptions{})
			if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsMethodNotSupported(err) && !strings.Contains(err.Error(), "the server could not find the requested resource") {
				return fmt.Errorf("delete %s %s/%s: %w", gvr.kind, o.GetNamespace(), o.GetName(), err)
			}
		}
	}
	t.progress("workload/ray: starting the KubeRay operator (%s) against the cluster, dashboard client at %s", t.cfg.KubeRay, h.dashboard)
	dir := filepath.Join(t.cfg.Dir, "ray")
	op, err := kuberay.Start(ctx, kuberay.Config{Binary: t.cfg.KubeRay, Kubeconfig: t.cfg.Kubeconfig, DashboardURL: h.dashboard,
		ServePort: h.serve, Dir: dir, Env: append(os.Environ(), t.marker)})
	if err != nil {
		return fmt.Errorf("KubeRay operator: %w", err)
	}
	t.mu.Lock()
	t.procs = append(t.procs, op)
	t.mu.Unlock()
	t.kuberay = op
	return nil
}

// startHead starts the Ray head (startHeadOn). A head that does not come up is stopped and started once more on
// fresh ports, its first failure said in the progress and in the error: a Ray head is a dozen processes binding
// ports chosen before they start, and on a busy 2-core machine one of them can fail without anything being wrong
// with the workload (seen once in CI: the raylet never registered, `ray start --block` stopped the head, and
// `serve start` waited out its minute for a GCS that was gone). The workload's code reaches Ray only after the
// head is up; what the platform gives the head itself (its custom resources) fails both starts, and the second
// failure is the step's error, the first's in it.
func (t *Tier) startHead(ctx context.Context, env pyenv.Env) (*rayHead, error) {
	h, err := t.startHeadOn(ctx, env, "ray")
	if err == nil || ctx.Err() != nil {
		return h, err
	}
	t.progress("workload/ray: the Ray head did not come up; starting it again on fresh ports. The first start: %v", err)
	h, err2 := t.startHeadOn(ctx, env, "ray-2")
	if err2 != nil {
		return nil, fmt.Errorf("%w\n(the first start failed too: %s)", err2, firstLine(err))
	}
	return h, nil
}

// startHeadOn starts `ray start --head --block` on loopback with free ports, and Serve's HTTP proxy on loopback;
// scratch is the name of its directory. On an error the head is stopped, and the error carries the tails of the
// head's own logs (raylet, GCS).
func (t *Tier) startHeadOn(ctx context.Context, env pyenv.Env, scratch string) (_ *rayHead, err error) {
	dir, err := t.scratch(scratch)
	if err != nil {
		return nil, err
	}
	tmp := t.rayTmp
	// Ten distinct ports at once: ports chosen one by one may repeat (Ray refuses a port given to two components).
	keys := []string{"port", "dashboard-port", "ray-client-server-port", "dashboard-agent-listen-port", "dashboard-agent-grpc-port",
		"metrics-export-port", "node-manager-port", "object-manager-port", "runtime-env-agent-port", "serve"}
	free, err := freePorts(len(keys))
	if err != nil {
		return nil, err
	}
	ports := map[string]int{}
	for i, k := range keys {
		ports[k] = free[i]
	}
	h := &rayHead{env: env, tmp: tmp, gcs: fmt.Sprintf("127.0.0.1:%d", ports["port"]),
		dashboard: fmt.Sprintf("http://127.0.0.1:%d", ports["dashboard-port"]), serve: ports["serve"]}
	args := []string{"start", "--head", "--block", "--node-ip-address", "127.0.0.1", "--dashboard-host", "127.0.0.1",
		"--num-cpus", "4", "--num-gpus", "0", "--object-store-memory", fmt.Sprint(256 << 20), "--temp-dir", tmp,
		"--disable-usage-stats", "--include-dashboard", "true"}
	for _, k := range []string{"port", "dashboard-port", "ray-client-server-port", "dashboard-agent-listen-port", "dashboard-agent-grpc-port",
		"metrics-export-port", "node-manager-port", "object-manager-port", "runtime-env-agent-port"} {
		args = append(args, "--"+k, fmt.Sprint(ports[k]))
	}
	if custom := localResources(t.cfg.Platform); len(custom) > 0 {
		js, _ := json.Marshal(custom)
		args = append(args, "--resources", string(js))
	}
	// RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 is Ray's single-machine mode (its default on macOS): otherwise `ray start`
	// replaces --node-ip-address 127.0.0.1 by the host's address and every server — GCS, raylet, workers,
	// dashboard, agents, metrics — binds all interfaces (ray-project/ray#55484 changed that after 2.41). In this
	// mode all of them bind loopback.
	// RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S: Serve's controller gives its HTTP proxy 5 s to report ready; on a busy
	// 2-core machine it misses that, and the retry trips a race in the controller that fails `serve start`
	// (ray-project/ray#60651, seen here with Go builds beside the run). 60 s: a proxy that starts is waited for.
	procEnv := env.Environ(append(t.awsEnv(), "HOME="+dir, "TMPDIR="+filepath.Join(dir, "tmp"), "RAY_USAGE_STATS_ENABLED=0",
		"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0", "RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S=60")...)
	t.progress("workload/ray: starting a Ray head (ray %s) on 127.0.0.1, dashboard %s", "start --head", h.dashboard)
	t0 := time.Now()
	hc := &http.Client{Timeout: 2 * time.Second}
	p, err := t.start(ctx, "ray head", dir, filepath.Join(dir, "head.log"), procEnv, func(ctx context.Context) bool {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.dashboard+"/api/version", nil)
		if err != nil {
			return false
		}
		resp, err := hc.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		// The dashboard answers before the raylet has registered: the head is up when its node is alive (a raylet
		// that dies makes `ray start --block` stop the head, which the start sees).
		return resp.StatusCode == http.StatusOK && headNodeAlive(ctx, hc, h.dashboard)
	}, 2*time.Minute, env.Bin("ray"), args...)
	if err != nil {
		return nil, fmt.Errorf("Ray head not up: %w%s", err, headLogs(tmp))
	}
	h.proc = p
	defer func() {
		if err != nil {
			_ = p.Stop()
		}
	}()
	// Serve's proxy on loopback and a free port, before any application is deployed (Serve would otherwise start
	// it on 0.0.0.0:8000).
	serveLog := filepath.Join(dir, "serve-start.log")
	if err := t.run(ctx, dir, serveLog, procEnv, env.Bin("serve"), "start", "--address", h.gcs,
		"--http-host", "127.0.0.1", "--http-port", fmt.Sprint(h.serve)); err != nil {
		return nil, fmt.Errorf("serve start: %v\n%s%s", err, strings.Join(tailFile(serveLog, 10), "\n"), headLogs(tmp))
	}
	t.progress("workload/ray: Ray head ready in %s, Serve proxy on 127.0.0.1:%d", time.Since(t0).Round(100*time.Millisecond), h.serve)
	return h, nil
}

// headNodeAlive says whether the dashboard lists a node whose raylet is ALIVE (its node summary, as `ray status`
// and the dashboard's cluster page read it).
func headNodeAlive(ctx context.Context, hc *http.Client, dashboard string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, dashboard+"/nodes?view=summary", nil)
	if err != nil {
		return false
	}
	resp, err := hc.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var body struct {
		Data struct {
			Summary []struct {
				Raylet struct {
					State string `json:"state"`
				} `json:"raylet"`
			} `json:"summary"`
		} `json:"data"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&body) != nil {
		return false
	}
	for _, n := range body.Data.Summary {
		if n.Raylet.State == "ALIVE" {
			return true
		}
	}
	return false
}

// headLogs is what the Ray head's own logs in its latest session under tmp say went wrong, for an error: each log's
// error and fatal lines (rayErrorLine; a component that could not bind its port says so in one), else the raylet's
// and the GCS's last lines; empty when there are no logs.
func headLogs(tmp string) string {
	var b strings.Builder
	for _, name := range []string{"raylet.out", "gcs_server.out", "dashboard_agent.log", "runtime_env_agent.log"} {
		path := filepath.Join(tmp, "session_latest", "logs", name)
		data, err := os.ReadFile(path)
		if err != nil || len(data) == 0 {
			continue
		}
		lines := rayErrorLine.FindAllString(string(data), -1)
		if len(lines) == 0 {
			if name != "raylet.out" && name != "gcs_server.out" {
				continue // the agents' logs only when they say something went wrong
			}
			lines = tailFile(path, 4)
		}
		if len(lines) > 4 {
			lines = lines[len(lines)-4:]
		}
		fmt.Fprintf(&b, "\n%s: %s", name, strings.Join(lines, "\n  "))
	}
	return b.String()
}

// rayErrorLine is an error or fatal line of a Ray log: a C++ component's ("[2026-12-07 10:25:21,303 C 2517 2517]
// grpc_server.cc:124: ...") or a Python agent's ("2026-12-07 10:25:16,380<TAB>ERROR agent.py:88 -- ...").
var rayErrorLine = regexp.MustCompile(`(?m)^(\[[0-9-]+ [0-9:,]+ [EC] [0-9]+ [0-9]+\]|[0-9-]+ [0-9:,]+\s+(ERROR|CRITICAL) ).*$`)

// freePorts chooses the head's ports (a variable for the test that gives the first head a port in use).
var freePorts = freeport.FreeN

// workingDirs are the s3:// runtime_env working_dir URIs the Ray manifests name, each with the directory whose
// files it ships: the manifest's own directory (workflows/ray for workflows/ray/rayjob.yaml), as the runbook zips it.
func workingDirs(root string, p *platform.Platform) (map[string]string, error) {
	out := map[string]string{}
	add := func(o deploy.Object, runtimeEnv map[string]any) {
		if wd, _ := runtimeEnv["working_dir"].(string); strings.HasPrefix(wd, "s3://") {
			out[wd] = filepath.Join(root, filepath.Dir(o.Source))
		}
	}
	for _, o := range rayWorkloads(p, "RayJob") {
		env, err := RuntimeEnv(o.Unstructured)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", o.Source, err)
		}
		add(o, env)
	}
	for _, o := range rayWorkloads(p, "RayService") {
		apps, err := ServeApps(o.Unstructured)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", o.Source, err)
		}
		for _, a := range apps {
			env, _ := a["runtime_env"].(map[string]any)
			add(o, env)
		}
	}
	return out, nil
}

// ShipCode does the runbook's code step for the Ray workloads of p: each s3:// runtime_env working_dir the
// manifests name gets the files of the manifest's directory (not the manifests), zipped. It returns what it
// uploaded ("<dir> -> <uri>"). The workload tier ships to the emulator, the nightly to the real bucket.
func ShipCode(ctx context.Context, client *s3.Client, p *platform.Platform) ([]string, error) {
	root, err := filepath.Abs(p.Root)
	if err != nil {
		return nil, err
	}
	dirs, err := workingDirs(root, p)
	if err != nil {
		return nil, err
	}
	var shipped []string
	for uri, dir := range dirs {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		// The directory's files and subdirectories (packages an import path may name), without the manifests
		// and Python's caches.
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			name := d.Name()
			if d.IsDir() {
				if path != dir && (name == "__pycache__" || strings.HasPrefix(name, ".")) {
					return filepath.SkipDir
				}
				return nil
			}
			if strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml") || strings.HasSuffix(name, ".pyc") || !d.Type().IsRegular() {
				return nil
			}
			rel, err := filepath.Rel(dir, path)
			if err != nil {
				return err
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			w, err := zw.Create(filepath.ToSlash(rel))
			if err != nil {
				return err
			}
			_, err = w.Write(data)
			return err
		})
		if err != nil {
			return nil, err
		}
		if err := zw.Close(); err != nil {
			return nil, err
		}
		bucket, key, _ := strings.Cut(strings.TrimPrefix(uri, "s3://"), "/")
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(buf.Bytes())}); err != nil {
			return nil, fmt.Errorf("upload %s: %w", uri, err)
		}
		rel, _ := filepath.Rel(root, dir)
		shipped = append(shipped, rel+"/ -> "+uri)
	}
	sort.Strings(shipped)
	return shipped, nil
}

// RuntimeEnv parses a RayJob's spec.runtimeEnvYAML.
func RuntimeEnv(u *unstructured.Unstructured) (map[string]any, error) {
	s, _, _ := unstructured.NestedString(u.Object, "spec", "runtimeEnvYAML")
	env := map[string]any{}
	if s == "" {
		return env, nil
	}
	if err := yaml.Unmarshal([]byte(s), &env); err != nil {
		return nil, fmt.Errorf("spec.runtimeEnvYAML: %w", err)
	}
	return env, nil
}

// ServeApps parses a RayService's spec.serveConfigV2 applications.
func ServeApps(u *unstructured.Unstructured) ([]map[string]any, error) {
	s, _, _ := unstructured.NestedString(u.Object, "spec", "serveConfigV2")
	var cfg struct {
		Applications []map[string]any `yaml:"applications"`
	}
	if err := yaml.Unmarshal([]byte(s), &cfg); err != nil {
		return nil, fmt.Errorf("spec.serveConfigV2: %w", err)
	}
	return cfg.Applications, nil
}

func setEnvVar(runtimeEnv map[string]any, k, v string) {
	vars, _ := runtimeEnv["env_vars"].(map[string]any)
	if vars == nil {
		vars = map[string]any{}
	}
	vars[k] = v
	runtimeEnv["env_vars"] = vars
}

// RayTrain submits each workflow RayJob to the cluster, where the real KubeRay operator creates its RayCluster
// (pods placed by the real scheduler on the emulated nodes) and submits the job to the local Ray head; it passes
// when the nightly's client sees SUCCEEDED.
func (t *Tier) RayTrain(ctx context.Context) result.Result {
	jobs := t.rayWorkloads("RayJob")
	if len(jobs) == 0 {
		return result.Skip(NameRayTrain, "no RayJob under workflows/")
	}
	h, err := t.rayReady(ctx)
	if err != nil {
		return skipOrFail(NameRayTrain, err)
	}
	dyn, err := dynamic.NewForConfig(t.cfg.Rest)
	if err != nil {
		return result.Fail(NameRayTrain, nil, "%v", err)
	}
	var details []string
	for _, o := range jobs {
		job := o.DeepCopy()
		if err := unstructured.SetNestedField(job.Object, localSubmission, "spec", "submissionMode"); err != nil {
			return result.Fail(NameRayTrain, nil, "%v", err)
		}
		env, err := RuntimeEnv(job)
		if err != nil {
			return result.Fail(NameRayTrain, nil, "%s: %v", o.Source, err)
		}
		setEnvVar(env, cpuSwitch, "0")
		delete(env, "pip")
		envYAML, _ := yaml.Marshal(env)
		_ = unstructured.SetNestedField(job.Object, string(envYAML), "spec", "runtimeEnvYAML")
		ns, name := job.GetNamespace(), job.GetName()
		t.progress("workload/ray-train: RayJob %s/%s submitted (submissionMode %s, %s=0, runtime_env pip dropped); waiting for SUCCEEDED", ns, name, localSubmission, cpuSwitch)
		t0 := time.Now()
		if err := smoke.Submit(ctx, dyn, smoke.RayJobs, job); err != nil {
			return result.Fail(NameRayTrain, nil, "%v", err)
		}
		wctx, cancel := context.WithCancelCause(ctx)
		placed := t.watchPlacement(wctx, cancel, dyn, ns, name)
		err = smoke.WaitRayJob(wctx, dyn, ns, name, 10*time.Minute, time.Second)
		cancel(nil)
		if cause := context.Cause(wctx); err != nil && cause != nil && !errors.Is(cause, context.Canceled) {
			err = cause
		}
		if err != nil {
			return result.Fail(NameRayTrain, append(t.jobLogTail(ctx, dyn, h, ns, name, 20), t.kuberay.Tail(5)...), "%v", err)
		}
		details = append(details, fmt.Sprintf("RayJob %s/%s SUCCEEDED in %s; pods: %s", ns, name, time.Since(t0).Round(100*time.Millisecond), strings.Join(<-placed, ", ")))
		if uri, _ := env["env_vars"].(map[string]any)["MODEL_URI"].(string); uri != "" {
			keys, err := t.list(ctx, uri)
			if err != nil || len(keys) == 0 {
				return result.Fail(NameRayTrain, details, "RayJob %s/%s succeeded but wrote no model to its MODEL_URI %s (%v)", ns, name, uri, err)
			}
			t.trained = true
			details = append(details, fmt.Sprintf("model at %s: %s", uri, strings.Join(keys, ", ")))
		}
	}
	r := result.Pass(NameRayTrain, "%d RayJob(s) SUCCEEDED through the real KubeRay v1.5.0 operator and a local Ray head (changes: the job on CPU, %s=0; submissionMode %s, as the K8s submitter Job's pod cannot run here; runtime_env pip dropped, the head's venv being the lock those pins equal)",
		len(jobs), cpuSwitch, localSubmission)
	r.Details = details
	return r
}

// unschedulableFor is how long a pod of the job's RayCluster may stay unschedulable before the step fails with the
// scheduler's reason (instead of waiting out the job's timeout).
const unschedulableFor = 90 * time.Second

// watchPlacement records where the RayJob's cluster pods were scheduled (node group of each), while the job runs;
// a pod the scheduler cannot place for unschedulableFor cancels the wait with the scheduler's message.
func (t *Tier) watchPlacement(ctx context.Context, cancel context.CancelCauseFunc, dyn dynamic.Interface, ns, job string) <-chan []string {
	out := make(chan []string, 1)
	cs, err := kubernetes.NewForConfig(t.cfg.Rest)
	if err != nil {
		out <- []string{err.Error()}
		return out
	}
	go func() {
		seen := map[string]string{}
		pendingSince := map[string]time.Time{}
		_ = wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 10*time.Minute, true, func(ctx context.Context) (bool, error) {
			u, err := dyn.Resource(smoke.RayJobs).Namespace(ns).Get(ctx, job, metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			st, _, _ := unstructured.NestedString(u.Object, "status", "jobStatus")
			cluster, _, _ := unstructured.NestedString(u.Object, "status", "rayClusterName")
			if cluster != "" {
				pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "ray.io/cluster=" + cluster})
				if err == nil {
					for _, p := range pods.Items {
						if p.Spec.NodeName == "" {
							for _, c := range p.Status.Conditions {
								if c.Type == corev1.PodScheduled && c.Reason == corev1.PodReasonUnschedulable {
									if _, ok := pendingSince[p.Name]; !ok {
										pendingSince[p.Name] = time.Now()
									}
									if time.Since(pendingSince[p.Name]) > unschedulableFor {
										cancel(fmt.Errorf("pod %s/%s of RayJob %s unschedulable for %s: %s", ns, p.Name, job, unschedulableFor, c.Message))
										return true, nil
									}
								}
							}
							continue
						}
						group := p.Spec.NodeName
						if n, err := cs.CoreV1().Nodes().Get(ctx, p.Spec.NodeName, metav1.GetOptions{}); err == nil {
							group = n.Labels["eks.amazonaws.com/nodegroup"]
						}
						seen[p.Labels["ray.io/node-type"]+" "+p.Name] = "node group " + group
					}
				}
			}
			return st == "SUCCEEDED" || st == "FAILED" || st == "STOPPED", nil
		})
		var s []string
		for k, v := range seen {
			s = append(s, k+" on "+v)
		}
		sort.Strings(s)
		out <- s
	}()
	return out
}

// jobLogTail is the last n lines of the Ray job's log, from the dashboard's job API.
func (t *Tier) jobLogTail(ctx context.Context, dyn dynamic.Interface, h *rayHead, ns, name string, n int) []string {
	u, err := dyn.Resource(smoke.RayJobs).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return []string{err.Error()}
	}
	id, _, _ := unstructured.NestedString(u.Object, "status", "jobId")
	if id == "" {
		return []string{"(no Ray job was submitted)"}
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(h.dashboard + "/api/jobs/" + id + "/logs")
	if err != nil {
		return []string{err.Error()}
	}
	defer resp.Body.Close()
	var body struct {
		Logs string `json:"logs"`
	}
	data, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(data, &body); err != nil {
		return []string{string(data)}
	}
	lines := strings.Split(strings.TrimRight(body.Logs, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return append([]string{"job " + id + " log:"}, lines...)
}

// RayServices is the resource the Ray Serve smoke test submits.
var RayServices = smoke.RayServices

// MLPRows are the rows the Ray Serve smoke test asks the MLP about: eight features, as train_ray.py's model takes.
var MLPRows = [][]float64{{1, 1, 1, 1, 0, 0, 0, 0}, {-1, -1, -1, -1, 0, 0, 0, 0}}

// RayServe submits each workflow RayService; the real KubeRay operator creates its RayCluster and deploys the
// Serve config to the local Ray head (code from the working_dir in the emulated bucket, the model the RayJob
// published), waits for the RayService to be Ready, and asks each application over HTTP.
func (t *Tier) RayServe(ctx context.Context) result.Result {
	svcs := t.rayWorkloads("RayService")
	if len(svcs) == 0 {
		return result.Skip(NameRayServe, "no RayService under workflows/")
	}
	h, err := t.rayReady(ctx)
	if err != nil {
		return skipOrFail(NameRayServe, err)
	}
	if !t.trained {
		return result.Skip(NameRayServe, "no model to serve: %s did not publish one", NameRayTrain)
	}
	dyn, err := dynamic.NewForConfig(t.cfg.Rest)
	if err != nil {
		return result.Fail(NameRayServe, nil, "%v", err)
	}
	hc := &http.Client{Timeout: 10 * time.Second}
	var details []string
	for _, o := range svcs {
		svc := o.DeepCopy()
		apps, err := ServeApps(svc)
		if err != nil {
			return result.Fail(NameRayServe, nil, "%s: %v", o.Source, err)
		}
		for _, a := range apps {
			env, _ := a["runtime_env"].(map[string]any)
			if env == nil {
				env = map[string]any{}
			}
			setEnvVar(env, serveGPUs, "0")
			delete(env, "pip")
			a["runtime_env"] = env
			for _, d := range ServeDeployments(a) {
				opts, _ := d["ray_actor_options"].(map[string]any)
				if opts == nil {
					continue
				}
				if _, ok := opts["num_gpus"]; ok {
					opts["num_gpus"] = 0
				}
				if denv, _ := opts["runtime_env"].(map[string]any); denv != nil {
					delete(denv, "pip")
				}
			}
		}
		cfg, _ := yaml.Marshal(map[string]any{"applications": apps})
		_ = unstructured.SetNestedField(svc.Object, string(cfg), "spec", "serveConfigV2")
		ns, name := svc.GetNamespace(), svc.GetName()
		t.progress("workload/ray-serve: RayService %s/%s submitted (%s=0); waiting for Ready", ns, name, serveGPUs)
		t0 := time.Now()
		if err := smoke.Submit(ctx, dyn, RayServices, svc); err != nil {
			return result.Fail(NameRayServe, nil, "%v", err)
		}
		if err := smoke.WaitRayService(ctx, dyn, ns, name, 5*time.Minute, time.Second); err != nil {
			return result.Fail(NameRayServe, append(t.serveStatus(h), t.kuberay.Tail(8)...), "%v", err)
		}
		ready := time.Since(t0)
		for _, a := range apps {
			prefix, _ := a["route_prefix"].(string)
			url := fmt.Sprintf("http://127.0.0.1:%d%s", h.serve, prefix)
			preds, err := smoke.PredictInstances(ctx, hc, url, MLPRows)
			if err != nil {
				return result.Fail(NameRayServe, t.serveStatus(h), "RayService %s/%s application %v: %v", ns, name, a["name"], err)
			}
			details = append(details, fmt.Sprintf("RayService %s/%s Ready in %s; POST %s answered %v", ns, name, ready.Round(100*time.Millisecond), prefix, preds))
		}
		// The Serve application holds the head's CPUs and the RayCluster the GPU node: remove it.
		_ = dyn.Resource(RayServices).Namespace(ns).Delete(ctx, name, metav1.DeleteOptions{})
	}
	r := result.Pass(NameRayServe, "%d RayService(s) Ready through the real KubeRay operator, the Serve application on a local Ray head answering over HTTP (changes: replicas on CPU, %s=0 and the deployments' num_gpus 0; runtime_env pip dropped as for the RayJob, the deployments' too)", len(svcs), serveGPUs)
	r.Details = details
	return r
}

// serveStatus is Serve's view of its applications (the dashboard's /api/serve/applications/), for a failure.
func (t *Tier) serveStatus(h *rayHead) []string {
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(h.dashboard + "/api/serve/applications/")
	if err != nil {
		return []string{err.Error()}
	}
	defer resp.Body.Close()
	var body struct {
		Applications map[string]struct {
			Status      string `json:"status"`
			Message     string `json:"message"`
			Deployments map[string]struct {
				Status  string `json:"status"`
				Message string `json:"message"`
			} `json:"deployments"`
		} `json:"applications"`
	}
	data, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(data, &body); err != nil {
		return []string{string(data)}
	}
	var out []string
	for n, a := range body.Applications {
		out = append(out, fmt.Sprintf("serve application %s: %s %s", n, a.Status, lastLines(a.Message, 6)))
		for dn, d := range a.Deployments {
			out = append(out, fmt.Sprintf("  deployment %s: %s %s", dn, d.Status, lastLines(d.Message, 6)))
		}
	}
	return out
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

func skipOrFail(name string, err error) result.Result {
	var s skipError
	if errors.As(err, &s) {
		return result.Skip(name, "%v", s.error)
	}
	return result.Fail(name, nil, "%v", err)
}

// migSlice is an NVIDIA MIG slice resource (nvidia.com/mig-2g.32gb), which KubeRay counts as GPUs.
var migSlice = regexp.MustCompile(`nvidia\.com/mig-\d+g\.\d+gb$`)

// RayGroup is what one group of a RayCluster spec offers Ray's scheduler: its custom resources (the group's
// `resources` map, which KubeRay passes over rayStartParams' `resources`) and its GPUs.
type RayGroup struct {
	Name   string
	Custom map[string]float64
	GPUs   float64
	// CPUs is the group's num-cpus as KubeRay starts it (the group's resources cpu, else rayStartParams num-cpus,
	// else the Ray container's CPU limit, else its request, rounded up); -1 when none says.
	CPUs float64
}

// RayGroups reads the head and worker groups of a RayJob's spec.rayClusterSpec or a RayService's
// spec.rayClusterConfig.
func RayGroups(u *unstructured.Unstructured) ([]RayGroup, error) {
	spec := "rayClusterSpec"
	if u.GetKind() == "RayService" {
		spec = "rayClusterConfig"
	}
	var specs []map[string]any
	if head, ok, _ := unstructured.NestedMap(u.Object, "spec", spec, "headGroupSpec"); ok {
		head["groupName"] = "head"
		specs = append(specs, head)
	}
	workers, _, _ := unstructured.NestedSlice(u.Object, "spec", spec, "workerGroupSpecs")
	for _, w := range workers {
		if m, ok := w.(map[string]any); ok {
			specs = append(specs, m)
		}
	}
	var out []RayGroup
	for _, g := range specs {
		name, _ := g["groupName"].(string)
		rg := RayGroup{Name: name, Custom: map[string]float64{}, CPUs: -1}
		params, _ := g["rayStartParams"].(map[string]any)
		if s, ok := params["resources"].(string); ok && strings.TrimSpace(s) != "" {
			// KubeRay passes the value to `ray start --resources` as written: a JSON object, usually quoted
			// ('"{\"driver\": 1}"').
			js := strings.Trim(strings.TrimSpace(s), `'"`)
			js = strings.ReplaceAll(js, `\"`, `"`)
			var m map[string]float64
			if err := json.Unmarshal([]byte(js), &m); err != nil {
				return nil, fmt.Errorf("group %s: rayStartParams.resources %q is not a JSON object of numbers: %v", name, s, err)
			}
			for k, v := range m {
				rg.Custom[k] = v
			}
		}
		// The group's map, as KubeRay 1.5 applies it (updateRayStartParamsResources): quantities; cpu, memory and
		// keys ending in "gpu" (or NVIDIA MIG slices) become num-cpus, memory and num-gpus; the others replace
		// rayStartParams' resources wholesale.
		res, _ := g["resources"].(map[string]any)
		custom, groupGPUs := map[string]float64{}, -1.0
		for k, v := range res {
			q, err := apiresource.ParseQuantity(fmt.Sprint(v))
			if err != nil {
				return nil, fmt.Errorf("group %s: resources.%s %q is not a quantity: %v", name, k, fmt.Sprint(v), err)
			}
			switch n := strings.ToLower(k); {
			case n == "cpu":
				rg.CPUs = float64(q.Value())
			case n == "memory":
			case strings.HasSuffix(n, "gpu") || migSlice.MatchString(n):
				groupGPUs = float64(q.Value())
			default:
				custom[k] = q.AsApproximateFloat64()
			}
		}
		if len(custom) > 0 {
			rg.Custom = custom
		}
		if s, ok := params["num-gpus"].(string); ok {
			_, _ = fmt.Sscan(s, &rg.GPUs)
		}
		if rg.CPUs < 0 {
			if c, ok := params["num-cpus"]; ok {
				_, _ = fmt.Sscan(fmt.Sprint(c), &rg.CPUs)
			} else if containers, _, _ := unstructured.NestedSlice(g, "template", "spec", "containers"); len(containers) > 0 {
				// KubeRay's Ray container is the first; its CPU limit, else its request (Quantity.Value rounds up).
				cm, _ := containers[0].(map[string]any)
				for _, kind := range []string{"limits", "requests"} {
					if v, ok, _ := unstructured.NestedFieldNoCopy(cm, "resources", kind, "cpu"); ok {
						if q, err := apiresource.ParseQuantity(fmt.Sprint(v)); err == nil && !q.IsZero() {
							rg.CPUs = float64(q.Value())
							break
						}
					}
				}
			}
		}
		if groupGPUs >= 0 {
			rg.GPUs = groupGPUs
		} else if _, ok := params["num-gpus"]; !ok {
			// KubeRay (addWellKnownAcceleratorResources): any GPU key of the Ray container's limits (a name ending
			// in "gpu", or an NVIDIA MIG slice) gives num-gpus; requests stand in where limits are not written.
			containers, _, _ := unstructured.NestedSlice(g, "template", "spec", "containers")
			for _, c := range containers {
				cm, _ := c.(map[string]any)
				for _, kind := range []string{"limits", "requests"} {
					v, _, _ := unstructured.NestedFieldNoCopy(cm, "resources", kind)
					res, _ := v.(map[string]any)
					for k, q := range res {
						if n := strings.ToLower(k); (strings.HasSuffix(n, "gpu") || migSlice.MatchString(n)) && rg.GPUs == 0 {
							_, _ = fmt.Sscan(fmt.Sprint(q), &rg.GPUs)
						}
					}
				}
			}
		}
		// ... and the well-known custom accelerators of its limits as Ray resources, when the group does not name them.
		if containers, _, _ := unstructured.NestedSlice(g, "template", "spec", "containers"); len(containers) > 0 {
			cm, _ := containers[0].(map[string]any)
			v, _, _ := unstructured.NestedFieldNoCopy(cm, "resources", "limits")
			limits, _ := v.(map[string]any)
			for k, rayName := range map[string]string{"aws.amazon.com/neuroncore": "neuron_cores", "google.com/tpu": "TPU"} {
				if v, ok := limits[k]; ok {
					if q, err := apiresource.ParseQuantity(fmt.Sprint(v)); err == nil && !q.IsZero() {
						if _, named := rg.Custom[rayName]; !named {
							rg.Custom[rayName] = q.AsApproximateFloat64()
						}
					}
				}
			}
		}
		out = append(out, rg)
	}
	return out, nil
}

// ServeDeployments are the `deployments` entries of a Serve application (their options replace the code's).
func ServeDeployments(app map[string]any) []map[string]any {
	list, _ := app["deployments"].([]any)
	var out []map[string]any
	for _, d := range list {
		if m, ok := d.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// localResources are the custom resources the local Ray head offers: for each one any Ray workload's group
// declares, the most a group offers (the one head stands in for every group, so a driver or actor placed by a
// custom resource — entrypointResources — starts here as it would on its group).
func localResources(p *platform.Platform) map[string]float64 {
	out := map[string]float64{}
	for _, kind := range []string{"RayJob", "RayService"} {
		for _, o := range rayWorkloads(p, kind) {
			groups, err := RayGroups(o.Unstructured)
			if err != nil {
				continue // consistency/code reports it
			}
			for _, g := range groups {
				for k, v := range g.Custom {
					if v > out[k] {
						out[k] = v
					}
				}
			}
		}
	}
	return out
}
