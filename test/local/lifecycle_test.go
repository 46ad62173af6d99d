package local

import (
	"context"
	"net"
	"net/url"
	"os"
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
