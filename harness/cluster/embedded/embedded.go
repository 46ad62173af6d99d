package embedded

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cluster"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/shape"
)

// Config configures an embedded cluster.
type Config struct {
	// Shape is the node layout; required.
	Shape *shape.Shape
	// RunDir is the parent directory of the cluster's run directory; default os.TempDir().
	RunDir string
	// KeepRunDir leaves the run directory (logs, kubeconfig) in place after Stop.
	KeepRunDir bool
	// Logger receives the harness's own progress logs; default discards.
	Logger *slog.Logger
	// StopTimeout bounds how long Stop waits for each component; default 30s.
	StopTimeout time.Duration
}

// Cluster is an in-process control plane with kwok-simulated nodes.
type Cluster struct {
	cfg   Config
	shape *shape.Shape

	mu         sync.Mutex
	runDir     string
	kubeconfig string
	rest       *rest.Config
	client     kubernetes.Interface
	logFile    *os.File
	// stops run in reverse order on Stop.
	stops []func(context.Context) error
}

var _ cluster.Cluster = (*Cluster)(nil)
var _ cluster.Scaler = (*Cluster)(nil)

// New validates cfg and returns a cluster that is not started yet.
func New(cfg Config) (*Cluster, error) {
	if cfg.Shape == nil {
		return nil, errors.New("embedded: Config.Shape is required")
	}
	if len(cfg.Shape.Groups) == 0 {
		return nil, errors.New("embedded: the shape has no node groups")
	}
	if cfg.RunDir == "" {
		cfg.RunDir = os.TempDir()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = 30 * time.Second
	}
	return &Cluster{cfg: cfg, shape: cfg.Shape.Clone()}, nil
}

// Shape returns the current node layout (scaled groups included).
func (c *Cluster) Shape() *shape.Shape {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.shape.Clone()
}

// RESTConfig returns an admin client configuration.
func (c *Cluster) RESTConfig() *rest.Config { return rest.CopyConfig(c.rest) }

// Kubeconfig returns the admin kubeconfig path.
func (c *Cluster) Kubeconfig() string { return c.kubeconfig }

// RunDir returns the run directory holding the kubeconfig, certificates, etcd data and components.log.
func (c *Cluster) RunDir() string { return c.runDir }

// Start runs etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok, registers the shape's
// nodes and returns when all of them are Ready. On failure it stops whatever it started.
func (c *Cluster) Start(ctx context.Context) (err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.runDir != "" {
		return errors.New("embedded: cluster already started")
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, c.stopLocked(context.WithoutCancel(ctx)))
		}
	}()
	log := c.cfg.Logger

	// The controller manager's options must exist before any other component's (feature-gate defaults).
	cmOpts, err := controllerManagerOptions()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(c.cfg.RunDir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", c.cfg.RunDir, err)
	}
	dir, err := os.MkdirTemp(c.cfg.RunDir, "harness-"+c.shape.ClusterName+"-")
	if err != nil {
		return fmt.Errorf("create run directory: %w", err)
	}
	c.runDir = dir
	c.stops = append(c.stops, func(context.Context) error {
		if c.cfg.KeepRunDir {
			return nil
		}
		return os.RemoveAll(dir)
	})
	c.logFile, err = os.OpenFile(filepath.Join(dir, "components.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open component log: %w", err)
	}
	klogSink.add(c.logFile)
	c.stops = append(c.stops, func(context.Context) error {
		klogSink.remove(c.logFile)
		return c.logFile.Close()
	})

	p, err := newPKI(dir)
	if err != nil {
		return err
	}
	etcdURL, stopEtcd, err := startEtcd(ctx, dir, c.logFile.Name())
	if err != nil {
		return err
	}
	c.stops = append(c.stops, func(context.Context) error { stopEtcd(); return nil })
	log.Debug("etcd ready", "url", etcdURL)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen for kube-apiserver: %w", err)
	}
	server := "https://" + ln.Addr().String()
	c.rest = &rest.Config{
		Host: server, QPS: 1000, Burst: 2000,
		TLSClientConfig: rest.TLSClientConfig{CAData: p.caPEM, CertData: p.adminCertPEM, KeyData: p.adminKeyPEM},
	}
	c.kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := p.writeKubeconfig(c.kubeconfig, c.shape.ClusterName, server); err != nil {
		_ = ln.Close()
		return err
	}
	apiOpts, err := apiServerOptions(p, etcdURL, ln)
	if err != nil {
		_ = ln.Close()
		return err
	}
	apiCtx, apiCancel := context.WithCancel(context.WithoutCancel(ctx))
	apiDone, err := runAPIServer(apiCtx, apiOpts, c.rest)
	c.stops = append(c.stops, c.stopper("kube-apiserver", apiCancel, apiDone))
	if apiDone == nil {
		_ = ln.Close()
	}
	if err != nil {
		return err
	}
	log.Debug("kube-apiserver ready", "server", server)
	if c.client, err = kubernetes.NewForConfig(c.rest); err != nil {
		return err
	}

	ctrlCtx, ctrlCancel := context.WithCancel(context.WithoutCancel(ctx))
	c.stops = append(c.stops, func(context.Context) error { ctrlCancel(); return nil })
	cmDone, err := runControllerManager(ctrlCtx, cmOpts, c.kubeconfig, p)
	if err != nil {
		return err
	}
	c.stops = append(c.stops, c.stopper("kube-controller-manager", ctrlCancel, cmDone))
	schedOpts, err := schedulerOptions(c.kubeconfig)
	if err != nil {
		return err
	}
	schedDone, err := runScheduler(ctrlCtx, schedOpts)
	if err != nil {
		return err
	}
	c.stops = append(c.stops, c.stopper("kube-scheduler", ctrlCancel, schedDone))
	if err := runKwok(ctrlCtx, c.kubeconfig, c.logFile); err != nil {
		return err
	}

	nodes := c.shape.Nodes()
	if err := cluster.CreateNodes(ctx, c.client, nodes, map[string]string{kwokAnnotation: "fake"}); err != nil {
		return err
	}
	if err := cluster.WaitNodesReady(ctx, c.client, len(nodes)); err != nil {
		return err
	}
	// Pods are admitted only once the default service account exists.
	return c.waitServiceAccount(ctx, metav1.NamespaceDefault)
}

func (c *Cluster) waitServiceAccount(ctx context.Context, ns string) error {
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := c.client.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
	if err != nil {
		return fmt.Errorf("wait for service account %s/default: %w", ns, err)
	}
	return nil
}

// stopper cancels a component and waits for it to exit, up to StopTimeout.
func (c *Cluster) stopper(name string, cancel context.CancelFunc, done <-chan error) func(context.Context) error {
	return func(ctx context.Context) error {
		cancel()
		if done == nil {
			return nil
		}
		timer := time.NewTimer(c.cfg.StopTimeout)
		defer timer.Stop()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				return fmt.Errorf("%s: %w", name, err)
			}
			return nil
		case <-timer.C:
			return fmt.Errorf("%s did not stop within %s", name, c.cfg.StopTimeout)
		case <-ctx.Done():
			return fmt.Errorf("stop %s: %w", name, ctx.Err())
		}
	}
}

// Stop stops every component in reverse start order and removes the run directory. Safe to call twice.
func (c *Cluster) Stop(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stopLocked(ctx)
}

func (c *Cluster) stopLocked(ctx context.Context) error {
	var errs []error
	for i := len(c.stops) - 1; i >= 0; i-- {
		if err := c.stops[i](ctx); err != nil {
			errs = append(errs, err)
		}
	}
	c.stops = nil
	return errors.Join(errs...)
}

// ScaleGroup sets a node group's size, adding nodes at the end of the group or deleting the last ones.
func (c *Cluster) ScaleGroup(ctx context.Context, group string, size int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	g, ok := c.shape.Group(group)
	if !ok {
		return fmt.Errorf("scale %s: no such node group", group)
	}
	if size < 0 || size > g.MaxSize {
		return fmt.Errorf("scale %s to %d: outside 0..max_size (%d)", group, size, g.MaxSize)
	}
	old := g.DesiredSize
	g.DesiredSize = size
	var add []shape.Node
	for _, n := range c.shape.Nodes() {
		if n.Group == group {
			add = append(add, n)
		}
	}
	if size > old {
		if err := cluster.CreateNodes(ctx, c.client, add[old:], map[string]string{kwokAnnotation: "fake"}); err != nil {
			return err
		}
		return cluster.WaitNodesReady(ctx, c.client, len(c.shape.Nodes()))
	}
	for i := size; i < old; i++ {
		if err := c.deleteNode(ctx, shape.NodeName(group, i)); err != nil {
			return err
		}
	}
	return nil
}

// RemoveNode deletes a node as if its EC2 instance were terminated.
func (c *Cluster) RemoveNode(ctx context.Context, name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.deleteNode(ctx, name)
}

func (c *Cluster) deleteNode(ctx context.Context, name string) error {
	err := c.client.CoreV1().Nodes().Delete(ctx, name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete node %s: %w", name, err)
	}
	return nil
}
