package embedded

import (
	"context"
	"fmt"

	"k8s.io/kubernetes/cmd/kube-scheduler/app"
	"k8s.io/kubernetes/cmd/kube-scheduler/app/options"
)

// schedulerOptions builds kube-scheduler options: no serving endpoint, no leader election, generous client QPS.
func schedulerOptions(kubeconfig string) (*options.Options, error) {
	reg, err := componentRegistry()
	if err != nil {
		return nil, err
	}
	o := options.NewOptions()
	o.ComponentGlobalsRegistry = reg
	o.SecureServing = nil
	o.ComponentConfig.ClientConnection.Kubeconfig = kubeconfig
	o.ComponentConfig.ClientConnection.QPS = 1000
	o.ComponentConfig.ClientConnection.Burst = 2000
	o.ComponentConfig.LeaderElection.LeaderElect = false
	return o, nil
}

// runScheduler starts kube-scheduler; the returned channel closes when it has exited.
func runScheduler(ctx context.Context, o *options.Options) (<-chan error, error) {
	cc, sched, err := app.Setup(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("set up kube-scheduler: %w", err)
	}
	errCh := make(chan error, 1)
	go func() {
		defer close(errCh)
		if err := app.Run(ctx, cc, sched); err != nil && ctx.Err() == nil {
			errCh <- err
		}
	}()
	return errCh, nil
}
