package embedded

import (
	"context"
	"fmt"
	"io"
	"time"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// retryAfter is how long an emulated add-on waits before it tries again a reconcile that failed (an API error),
// when no change of the cluster comes first.
const retryAfter = time.Second

// runAddons plays the parts of the EKS add-ons the embedded cluster has no real agent for, until ctx ends: the
// NVIDIA device plugin's advertising of GPUs (gpus: false when GPU nodes advertise them from the start) and the EBS
// CSI driver's provisioner. Like the controllers they stand for, they read the cluster from informers' caches and
// act when something they watch changes, not by listing every pod and node from the API server on a timer (which
// cost each cluster a steady share of a core once the platform's pods ran).
func runAddons(ctx context.Context, cs kubernetes.Interface, log io.Writer, gpus bool) {
	f := informers.NewSharedInformerFactory(cs, 0)
	core := f.Core().V1()
	var loops []func()
	if gpus {
		a := &gpuAdvertiser{cs: cs, pods: core.Pods().Lister(), nodes: core.Nodes().Lister()}
		loops = append(loops, onChange(ctx, "gpu advertiser", log, a.reconcile, core.Pods().Informer(), core.Nodes().Informer()))
	}
	v := &volumeProvisioner{cs: cs, claims: core.PersistentVolumeClaims().Lister(), volumes: core.PersistentVolumes().Lister(),
		classes: f.Storage().V1().StorageClasses().Lister()}
	loops = append(loops, onChange(ctx, "volume provisioner", log, v.reconcile,
		core.PersistentVolumeClaims().Informer(), core.PersistentVolumes().Informer(), f.Storage().V1().StorageClasses().Informer()))
	f.Start(ctx.Done())
	defer f.Shutdown()
	f.WaitForCacheSync(ctx.Done())
	for _, loop := range loops[1:] {
		go loop()
	}
	loops[0]()
}

// onChange returns a loop that runs reconcile once the informers have synced, again after any change they see
// (changes that come during a reconcile are handled by one more), and after retryAfter when it failed; it returns
// when ctx ends. Errors go to log.
func onChange(ctx context.Context, name string, log io.Writer, reconcile func(context.Context) error, infs ...cache.SharedIndexInformer) func() {
	kick := make(chan struct{}, 1)
	poke := func() {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	h := cache.ResourceEventHandlerFuncs{AddFunc: func(any) { poke() }, UpdateFunc: func(any, any) { poke() }, DeleteFunc: func(any) { poke() }}
	for _, inf := range infs {
		_, _ = inf.AddEventHandler(h)
	}
	return func() {
		poke()
		var retry <-chan time.Time
		for {
			select {
			case <-ctx.Done():
				return
			case <-kick:
			case <-retry:
			}
			retry = nil
			if err := reconcile(ctx); err != nil && ctx.Err() == nil {
				fmt.Fprintf(log, "%s: %v\n", name, err)
				retry = time.After(retryAfter)
			}
		}
	}
}
