package embedded

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cluster/node"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/shape"
)

// stopTimeout bounds how long stopping waits for each component.
const stopTimeout = 30 * time.Second

// controlPlane is the control plane running inside the current (child) process.
type controlPlane struct {
	dir        string
	kubeconfig string
	shape      *shape.Shape
	rest       *rest.Config
	client     kubernetes.Interface
	logFile    *os.File
	// preAdvertisedGPUs: GPU nodes advertise nvidia.com/gpu from the start (no device plugin needed).
	preAdvertisedGPUs bool
	// version is the minor the components emulate (--emulated-version): the declared cluster version.
	version string
	// restart: the etcd data holds a cluster already (an in-place upgrade); its nodes are adopted, not created.
	restart bool
	// stops run in reverse order.
	stops []func(context.Context) error
}

// start runs etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok in this process, registers
// the shape's nodes and returns when all of them are Ready. On failure it stops whatever it started.
func (c *controlPlane) start(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			err = errors.Join(err, c.stop(context.WithoutCancel(ctx)))
		}
	}()
	// The controller manager's options must exist before any other component's (feature-gate defaults).
	cmOpts, err := controllerManagerOptions()
	if err != nil {
		return err
	}
	dir := c.dir
	t0 := time.Now()
	// Phase timings go to controlplane.out, for `make bench` analysis and slow-start reports.
	mark := func(phase string) { fmt.Fprintf(os.Stderr, "%-26s %6.2fs\n", phase, time.Since(t0).Seconds()) }
	c.logFile, err = os.OpenFile(filepath.Join(dir, "components.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open component log: %w", err)
	}
	redirectKlog(c.logFile)
	c.stops = append(c.stops, func(context.Context) error {
		klog.SetOutput(io.Discard)
		return c.logFile.Close()
	})

	newOrLoad := newPKI
	if c.restart {
		newOrLoad = loadPKI
	}
	p, err := newOrLoad(dir)
	if err != nil {
		return err
	}
	etcdURL, stopEtcd, err := startEtcd(ctx, dir, c.logFile.Name())
	if err != nil {
		return err
	}
	c.stops = append(c.stops, func(context.Context) error { stopEtcd(); return nil })
	// The harness snapshots the cluster through etcd's own API (Cluster.Snapshot).
	if err := os.WriteFile(filepath.Join(dir, etcdURLFile), []byte(etcdURL), 0o600); err != nil {
		return fmt.Errorf("write etcd address: %w", err)
	}
	mark("etcd ready")

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
	apiOpts, err := apiServerOptions(p, etcdURL, ln, c.version)
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
	mark("kube-apiserver ready")
	if c.client, err = kubernetes.NewForConfig(c.rest); err != nil {
		return err
	}

	ctrlCtx, ctrlCancel := context.WithCancel(context.WithoutCancel(ctx))
	c.stops = append(c.stops, func(context.Context) error { ctrlCancel(); return nil })
	cmDone, err := runControllerManager(ctrlCtx, cmOpts, c.kubeconfig, p, c.version)
	c.stops = append(c.stops, c.stopper("kube-controller-manager", ctrlCancel, cmDone))
	if err != nil {
		return err
	}
	schedOpts, err := schedulerOptions(c.kubeconfig, c.version)
	if err != nil {
		return err
	}
	schedDone, err := runScheduler(ctrlCtx, schedOpts)
	c.stops = append(c.stops, c.stopper("kube-scheduler", ctrlCancel, schedDone))
	if err != nil {
		return err
	}
	mark("controllers started")
	// kwok's node leases live in kube-node-lease, which the API server creates shortly after it is ready.
	if err := c.waitNamespace(ctx, "kube-node-lease"); err != nil {
		return err
	}
	if err := runKwok(ctrlCtx, c.kubeconfig, c.logFile); err != nil {
		return err
	}
	mark("kwok started")
	// The API server taints new nodes not-ready; the node lifecycle controller lifts the taint once kwok
	// reports them Ready. WaitNodesReady waits for both.
	nodes := c.shape.Nodes()
	if !c.preAdvertisedGPUs {
		nodes = withoutGPUs(nodes)
	}
	go runAddons(ctrlCtx, c.client, c.logFile, !c.preAdvertisedGPUs)
	if c.restart {
		existing, err := c.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		if err := node.WaitNodesReady(ctx, c.client, len(existing.Items)); err != nil {
			return err
		}
	} else {
		if err := node.CreateNodes(ctx, c.client, nodes, map[string]string{kwokAnnotation: "fake"}); err != nil {
			return err
		}
		if err := node.WaitNodesReady(ctx, c.client, len(nodes)); err != nil {
			return err
		}
	}
	mark("nodes ready")
	// Pods are admitted only once the default service account exists.
	err = c.waitServiceAccount(ctx, metav1.NamespaceDefault)
	mark("default service account")
	return err
}

func (c *controlPlane) waitNamespace(ctx context.Context, ns string) error {
	err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := c.client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return err == nil, nil
	})
	if err != nil {
		return fmt.Errorf("wait for namespace %s: %w", ns, err)
	}
	return nil
}

func (c *controlPlane) waitServiceAccount(ctx context.Context, ns string) error {
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
func (c *controlPlane) stopper(name string, cancel context.CancelFunc, done <-chan error) func(context.Context) error {
	return func(ctx context.Context) error {
		cancel()
		if done == nil {
			return nil
		}
		timer := time.NewTimer(stopTimeout)
		defer timer.Stop()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				return fmt.Errorf("%s: %w", name, err)
			}
			return nil
		case <-timer.C:
			return fmt.Errorf("%s did not stop within %s", name, stopTimeout)
		case <-ctx.Done():
			return fmt.Errorf("stop %s: %w", name, ctx.Err())
		}
	}
}

// stop stops every component in reverse start order. Safe to call twice.
func (c *controlPlane) stop(ctx context.Context) error {
	var errs []error
	for i := len(c.stops) - 1; i >= 0; i-- {
		if err := c.stops[i](ctx); err != nil {
			errs = append(errs, err)
		}
	}
	c.stops = nil
	return errors.Join(errs...)
}
