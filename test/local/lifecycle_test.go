package local

import (
	"context"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cluster/embedded"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/test/testenv"
)

// TestTwoClustersThenNothingLeft runs two clusters at once, stops one, and checks it left no port, directory
// or kubeconfig behind while the other keeps working.
func TestTwoClustersThenNothingLeft(t *testing.T) {
	t.Parallel()
	s := testenv.MustShape(t, "local")
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()

	clusters := make([]*embedded.Cluster, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range clusters {
		c, err := embedded.New(embedded.Config{Shape: s, RunDir: t.TempDir()})
		require.NoError(t, err)
		clusters[i] = c
		t.Cleanup(func() { _ = c.Stop(context.Background()) })
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = c.Start(ctx) }()
	}
	wg.Wait()
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])
	a, b := clusters[0], clusters[1]
	require.NotEqual(t, a.RESTConfig().Host, b.RESTConfig().Host)

	// Both answer, independently.
	for _, c := range clusters {
		cs, err := kubernetes.NewForConfig(c.RESTConfig())
		require.NoError(t, err)
		nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		require.NoError(t, err)
		assert.Len(t, nodes.Items, 3)
	}
	csA, err := kubernetes.NewForConfig(a.RESTConfig())
	require.NoError(t, err)
	_, err = csA.CoreV1().Namespaces().Create(ctx, nsObj("only-in-a"), metav1.CreateOptions{})
	require.NoError(t, err)
	csB, err := kubernetes.NewForConfig(b.RESTConfig())
	require.NoError(t, err)
	_, err = csB.CoreV1().Namespaces().Get(ctx, "only-in-a", metav1.GetOptions{})
	require.Error(t, err, "clusters must not share state")

	info, err := os.Stat(a.Kubeconfig())
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm(), "kubeconfig mode")

	hostA := mustHost(t, a.RESTConfig().Host)
	runDirA := a.RunDir()
	require.NoError(t, a.Stop(ctx))
	require.NoError(t, a.Stop(ctx), "second Stop is a no-op")

	_, err = os.Stat(runDirA)
	assert.True(t, os.IsNotExist(err), "run directory %s removed", runDirA)
	conn, err := net.DialTimeout("tcp", hostA, time.Second)
	if err == nil {
		conn.Close()
	}
	assert.Error(t, err, "kube-apiserver port %s closed", hostA)

	nodes, err := csB.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	require.NoError(t, err, "the other cluster still answers")
	assert.Len(t, nodes.Items, 3)
}

func mustHost(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	require.NoError(t, err)
	return u.Host
}

// TestFailedStartUndoesItself cancels a start half-way and checks nothing is left.
func TestFailedStartUndoesItself(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c, err := embedded.New(embedded.Config{Shape: testenv.MustShape(t, "local"), RunDir: dir})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	require.Error(t, c.Start(ctx))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries, "run directory removed after a failed start")
	require.NoError(t, c.Stop(context.Background()))
}

func nsObj(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

// TestForkContinuesFromTheSnapshot snapshots a running cluster (a workload Running, a node group scaled), goes on
// changing it, stops it,, and starts a fork from the snapshot: the fork has exactly the state at the snapshot —
// objects, Ready nodes, Running pods, the scaled shape — and none of what came after; it is independent of the
// cluster it came from. A snapshot of another cluster is refused, naming both.
func TestForkContinuesFromTheSnapshot(t *testing.T) {
	t.Parallel()
	s := testenv.MustShape(t, "local")
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	a, err := embedded.New(embedded.Config{Shape: s, RunDir: t.TempDir()})
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Stop(context.Background()) })
	require.NoError(t, a.Start(ctx))
	csA, err := kubernetes.NewForConfig(a.RESTConfig())
	require.NoError(t, err)
	_, err = csA.CoreV1().Namespaces().Create(ctx, nsObj("before-snapshot"), metav1.CreateOptions{})
	require.NoError(t, err)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "before-snapshot"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1.27"}}}}
	_, err = csA.CoreV1().Pods("before-snapshot").Create(ctx, pod, metav1.CreateOptions{})
	require.NoError(t, err)
	waitPodRunning(ctx, t, csA, "before-snapshot", "web")
	require.NoError(t, a.ScaleGroup(ctx, "gpu", 2))

	snap := filepath.Join(t.TempDir(), "snap")
	t0 := time.Now()
	require.NoError(t, a.Snapshot(ctx, snap))
	t.Logf("snapshot taken in %s", time.Since(t0).Round(time.Millisecond))
	_, err = csA.CoreV1().Namespaces().Create(ctx, nsObj("after-snapshot"), metav1.CreateOptions{})
	require.NoError(t, err)
	require.NoError(t, a.Stop(ctx))

	b, err := embedded.New(embedded.Config{Shape: s, RunDir: t.TempDir(), FromSnapshot: snap})
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Stop(context.Background()) })
	t0 = time.Now()
	require.NoError(t, b.Start(ctx))
	t.Logf("fork started in %s", time.Since(t0).Round(time.Millisecond))
	csB, err := kubernetes.NewForConfig(b.RESTConfig())
	require.NoError(t, err)
	_, err = csB.CoreV1().Namespaces().Get(ctx, "before-snapshot", metav1.GetOptions{})
	require.NoError(t, err, "what was there at the snapshot is in the fork")
	_, err = csB.CoreV1().Namespaces().Get(ctx, "after-snapshot", metav1.GetOptions{})
	require.Error(t, err, "what came after the snapshot is not")
	waitPodRunning(ctx, t, csB, "before-snapshot", "web")
	nodes, err := csB.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	assert.Len(t, nodes.Items, 4, "gpu scaled to 2 + system 2")
	g, ok := b.Shape().Group("gpu")
	require.True(t, ok)
	assert.Equal(t, 2, g.DesiredSize, "the fork's shape is the snapshot's")
	// The fork goes on as a cluster of its own: scaling adds a node under a name never used.
	require.NoError(t, b.ScaleGroup(ctx, "gpu", 3))
	nodes, err = csB.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	assert.Len(t, nodes.Items, 5)
	names := map[string]bool{}
	for _, n := range nodes.Items {
		names[n.Name] = true
	}
	assert.Len(t, names, 5, "no node name reused")

	other := s.Clone()
	other.ClusterName = "someone-else"
	c, err := embedded.New(embedded.Config{Shape: other, RunDir: t.TempDir(), FromSnapshot: snap})
	require.NoError(t, err)
	err = c.Start(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "someone-else")
	assert.Contains(t, err.Error(), s.ClusterName)
}

func waitPodRunning(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, name string) {
	t.Helper()
	var phase corev1.PodPhase
	for ctx.Err() == nil {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err == nil && p.Status.Phase == corev1.PodRunning {
			return
		}
		if err == nil {
			phase = p.Status.Phase
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("pod %s/%s not Running (last phase %q)", ns, name, phase)
}
