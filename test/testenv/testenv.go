// Package testenv holds helpers the Go suites under test/ share: start clusters that clean up after
// themselves, and wait for pods.
package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/component-base/version"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/check"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/checkov"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cluster"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cluster/embedded"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/deploy"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/engine"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/platform"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/shape"
)

// Main is TestMain for packages that start embedded clusters: the test binary also hosts their control planes.
// The harness commands the tests run keep their deploy snapshots and checkov's reports in directories of the test
// binary's, shared by its tests and removed at the end, not in the user's cache (HARNESS_SNAPSHOTS and
// HARNESS_CHECKOV_CACHE, unless the caller set them).
func Main(m *testing.M) {
	embedded.RunIfControlPlane()
	var dirs []string
	for _, v := range []string{"HARNESS_SNAPSHOTS", checkov.EnvCache} {
		if os.Getenv(v) != "" {
			continue
		}
		if dir, err := os.MkdirTemp("", "eks-mlops-test-"+strings.ToLower(strings.TrimPrefix(v, "HARNESS_"))+"-"); err == nil {
			os.Setenv(v, dir)
			dirs = append(dirs, dir)
		}
	}
	code := m.Run()
	for _, d := range dirs {
		os.RemoveAll(d)
	}
	os.Exit(code)
}

// Root is the repository root.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// TerraformDir is the repository's Terraform root module.
func TerraformDir() string { return filepath.Join(Root(), "terraform") }

var crds struct {
	once sync.Once
	err  error
}

// CRDsDir returns bin/crds, generating it with tools/crdgen (`make crds` does the same) when it is missing.
func CRDsDir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(Root(), "bin", "crds")
	crds.once.Do(func() {
		if _, err := deploy.LoadCRDs(dir); err == nil {
			return
		}
		cmd := exec.Command("go", "run", ".", "-out", dir)
		cmd.Dir = filepath.Join(Root(), "tools", "crdgen")
		if out, err := cmd.CombinedOutput(); err != nil {
			crds.err = fmt.Errorf("generate CRDs (tools/crdgen): %v\n%s", err, out)
		}
	})
	require.NoError(t, crds.err)
	return dir
}

// MustShape loads the shape of env from the repository's terraform/.
func MustShape(t testing.TB, env string) *shape.Shape {
	t.Helper()
	s, err := shape.Load(TerraformDir(), env)
	require.NoError(t, err)
	return s
}

// ChartsDir is where the pinned upstream charts are unpacked: HARNESS_CHARTS_DIR, or ../shared/charts beside the
// repository (CI's copy). Without either the test is skipped, saying so.
func ChartsDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("HARNESS_CHARTS_DIR")
	if dir == "" {
		dir = filepath.Join(Root(), "..", "shared", "charts")
	}
	abs, err := filepath.Abs(dir)
	require.NoError(t, err)
	if _, err := os.Stat(filepath.Join(abs, "PROVENANCE.md")); err != nil {
		if _, err := os.Stat(abs); err != nil {
			t.Skipf("skipped: no upstream charts (set HARNESS_CHARTS_DIR, or run `harness charts pull`): %v", err)
		}
	}
	// Charts check the cluster's version (kubeVersion); the control plane reports the one it was built with.
	require.False(t, strings.HasPrefix(version.Get().GitVersion, "v0.0.0"),
		"the control plane reports no Kubernetes version: run the tests through `make test` (it builds with -ldflags version)")
	return abs
}

// MustShapeNoT loads the shape of env outside a test (helper processes); it panics on error.
func MustShapeNoT(env string) *shape.Shape {
	s, err := shape.Load(TerraformDir(), env)
	if err != nil {
		panic(err)
	}
	return s
}

// MustPlatform loads the platform model of env from the repository at root.
func MustPlatform(t testing.TB, root, env string) *platform.Platform {
	t.Helper()
	p, err := platform.Load(root, env)
	require.NoError(t, err)
	return p
}

// MustEnv builds the engine environment of p on a started cluster.
func MustEnv(t testing.TB, p *platform.Platform, c cluster.Cluster, charts engine.Charts, crdsDir string) *engine.Env {
	t.Helper()
	e, err := engine.NewEnv(p, c, charts, crdsDir)
	require.NoError(t, err)
	return e
}

// Check runs every step of `harness check` for the repository at root on c and returns the results and the run
// (placements, sizes) — except policy/checkov (seconds of Python per run; test/static covers it), which the
// tests of the cluster steps do not need. Karpenter runs as harness check runs it (the AWS provider when built).
func Check(t testing.TB, root, env string, c cluster.Cluster, charts engine.Charts, crdsDir string) ([]result.Result, *check.Run) {
	t.Helper()
	return runCheck(t, root, env, c, charts, crdsDir, engine.KarpenterConfigAt(Root()))
}

// CheckQuick is Check with Karpenter's generic kwok provider in place of the AWS provider (no moto, no emulated
// apply, nodes registered at once): for tests that judge something other than Karpenter, tens of seconds sooner.
func CheckQuick(t testing.TB, root, env string, c cluster.Cluster, charts engine.Charts, crdsDir string) ([]result.Result, *check.Run) {
	t.Helper()
	karp := engine.KarpenterConfigAt(Root())
	karp.AWSBinary = ""
	return runCheck(t, root, env, c, charts, crdsDir, karp)
}

// CheckPhases runs only the steps of `harness check` in phases (check.Select), Karpenter as in CheckQuick, for the
// repository at root on c (nil: no cluster; only check.PhaseStatic can run). For breaking tests whose verdict one
// check gives from what those phases do: the same check on the same input gives the same verdict, without the
// deploys and probes of phases it does not read (the whole default path is judged by the corpus and the tests that
// run every step).
func CheckPhases(t testing.TB, root, env string, c cluster.Cluster, charts engine.Charts, crdsDir string, phases ...check.Phase) []result.Result {
	t.Helper()
	karp := engine.KarpenterConfigAt(Root())
	karp.AWSBinary = ""
	return runPhases(t, root, env, c, charts, crdsDir, karp, phases)
}

// CheckPhasesAWS is CheckPhases with Karpenter run as `harness check` runs it (the AWS provider when built).
func CheckPhasesAWS(t testing.TB, root, env string, c cluster.Cluster, charts engine.Charts, crdsDir string, phases ...check.Phase) []result.Result {
	t.Helper()
	return runPhases(t, root, env, c, charts, crdsDir, engine.KarpenterConfigAt(Root()), phases)
}

func runPhases(t testing.TB, root, env string, c cluster.Cluster, charts engine.Charts, crdsDir string, karp engine.KarpenterConfig, phases []check.Phase) []result.Result {
	t.Helper()
	rs, _ := runSteps(t, root, env, c, charts, crdsDir, karp, check.Select(check.Steps(), phases...))
	return rs
}

func runCheck(t testing.TB, root, env string, c cluster.Cluster, charts engine.Charts, crdsDir string, karp engine.KarpenterConfig) ([]result.Result, *check.Run) {
	t.Helper()
	return runSteps(t, root, env, c, charts, crdsDir, karp, check.Except(check.Steps(), check.PhaseScan))
}

func runSteps(t testing.TB, root, env string, c cluster.Cluster, charts engine.Charts, crdsDir string, karp engine.KarpenterConfig, steps []check.Step) ([]result.Result, *check.Run) {
	t.Helper()
	run := &check.Run{Env: MustEnv(t, MustPlatform(t, root, env), c, charts, crdsDir), Karpenter: &karp, KubeRay: check.KubeRayAt(Root())}
	rs, err := check.Execute(t.Context(), run, steps, nil)
	require.NoError(t, err)
	return rs, run
}

// MustEmbedded starts an embedded cluster for s whose GPU nodes advertise their GPUs from the start (for tests
// that place GPU pods themselves), and stops it when the test ends.
func MustEmbedded(t testing.TB, s *shape.Shape) (*embedded.Cluster, kubernetes.Interface) {
	t.Helper()
	return mustEmbedded(t, embedded.Config{Shape: s, RunDir: t.TempDir(), PreAdvertisedGPUs: true})
}

// MustEKS starts an embedded cluster for s as `harness check` does: GPU nodes advertise nvidia.com/gpu only
// while an NVIDIA device plugin pod runs on them, as on EKS. It stops when the test ends.
func MustEKS(t testing.TB, s *shape.Shape) (*embedded.Cluster, kubernetes.Interface) {
	t.Helper()
	return mustEmbedded(t, embedded.Config{Shape: s, RunDir: t.TempDir()})
}

// MustStart starts an embedded cluster from cfg (RunDir defaults to the test's temporary directory) and stops it
// when the test ends.
func MustStart(t testing.TB, cfg embedded.Config) (*embedded.Cluster, kubernetes.Interface) {
	t.Helper()
	if cfg.RunDir == "" {
		cfg.RunDir = t.TempDir()
	}
	return mustEmbedded(t, cfg)
}

func mustEmbedded(t testing.TB, cfg embedded.Config) (*embedded.Cluster, kubernetes.Interface) {
	t.Helper()
	c, err := embedded.New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err = c.Start(ctx)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		require.NoError(t, c.Stop(ctx))
	})
	require.NoError(t, err, "start embedded cluster")
	cs, err := kubernetes.NewForConfig(c.RESTConfig())
	require.NoError(t, err)
	return c, cs
}

// WaitPod waits until cond holds for the pod and returns it.
func WaitPod(ctx context.Context, cs kubernetes.Interface, ns, name string, cond func(*corev1.Pod) bool) (*corev1.Pod, error) {
	var pod *corev1.Pod
	err := wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		pod = p
		return cond(p), nil
	})
	if err != nil {
		state := "not found"
		if pod != nil {
			state = fmt.Sprintf("phase %s on %q, conditions %v", pod.Status.Phase, pod.Spec.NodeName, pod.Status.Conditions)
		}
		return pod, fmt.Errorf("wait for pod %s/%s (%s): %w", ns, name, state, err)
	}
	return pod, nil
}

// Running reports whether the pod is Running.
func Running(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning }

// Unschedulable returns the scheduler's message when it has marked the pod unschedulable.
func Unschedulable(p *corev1.Pod) (string, bool) {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			return c.Message, true
		}
	}
	return "", false
}

// CopyRepo copies the platform artifacts (terraform/, helm/, workflows/, scenarios/) into a temporary directory
// so a test can break one of them.
func CopyRepo(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"terraform", "helm", "workflows", "scenarios"} {
		require.NoError(t, os.CopyFS(filepath.Join(dir, d), os.DirFS(filepath.Join(Root(), d))))
	}
	return dir
}

// Edit replaces old with new once in file under root; the test fails when old is not there.
func Edit(t testing.TB, root, file, old, new string) {
	t.Helper()
	p := filepath.Join(root, file)
	data, err := os.ReadFile(p)
	require.NoError(t, err)
	require.Contains(t, string(data), old, "%s changed; update the test", file)
	require.NoError(t, os.WriteFile(p, []byte(strings.Replace(string(data), old, new, 1)), 0o644))
}

// ServeChart packages the unpacked chart in chartDir into a Helm HTTP repository served by the test (index.yaml
// and the archive, as `helm repo index` lays them out) and returns its URL; the server stops when the test ends.
func ServeChart(t testing.TB, chartDir string) string {
	t.Helper()
	r, err := deploy.ServeCharts(t.TempDir(), []string{chartDir})
	require.NoError(t, err)
	t.Cleanup(func() { _ = r.Close() })
	return r.URL
}

// BridgeValues are the values the root Application receives for env (the GitOps Bridge as global.aws), as the
// platform model computes them from terraform/.
func BridgeValues(t testing.TB, env string) map[string]any {
	t.Helper()
	p := MustPlatform(t, Root(), env)
	return map[string]any{"global": map[string]any{"aws": p.Bridge.Values}}
}

// KubernetesModuleVersion is the k8s.io/kubernetes version the harness module requires (go.mod).
func KubernetesModuleVersion(t testing.TB) string {
	t.Helper()
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Version}}", "k8s.io/kubernetes")
	cmd.Dir = Root()
	out, err := cmd.Output()
	require.NoError(t, err)
	return strings.TrimSpace(string(out))
}
