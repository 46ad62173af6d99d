package embedded

import (
	"context"
	"fmt"

	"k8s.io/kubernetes/cmd/kube-controller-manager/app"
	"k8s.io/kubernetes/cmd/kube-controller-manager/app/options"
)

// controllerManagerOptions builds kube-controller-manager options. It must run before any other component's
// options are built: its constructor adjusts process-wide feature-gate defaults.
func controllerManagerOptions() (*options.KubeControllerManagerOptions, error) {
	s, err := options.NewKubeControllerManagerOptions()
	if err != nil {
		return nil, fmt.Errorf("kube-controller-manager options: %w", err)
	}
	return s, nil
}

// runControllerManager configures s for this cluster and starts kube-controller-manager; the returned channel
// closes when it has exited.
func runControllerManager(ctx context.Context, s *options.KubeControllerManagerOptions, kubeconfig string, p *pki, emulate string) (<-chan error, error) {
	reg, err := componentRegistry(emulate)
	if err != nil {
		return nil, err
	}
	s.ComponentGlobalsRegistry = reg
	s.SecureServing.BindPort = 0
	s.Generic.ClientConnection.Kubeconfig = kubeconfig
	s.Generic.ClientConnection.QPS = 1000
	s.Generic.ClientConnection.Burst = 2000
	s.Generic.LeaderElection.LeaderElect = false
	s.SAController.ServiceAccountKeyFile = p.SAKey
	s.SAController.RootCAFile = p.CACert
	all, disabled, aliases := app.KnownControllers(), app.ControllersDisabledByDefault(), app.ControllerAliases()
	c, err := s.Config(ctx, all, disabled, aliases)
	if err != nil {
		return nil, fmt.Errorf("kube-controller-manager config: %w", err)
	}
	errCh := make(chan error, 1)
	go func() {
		defer close(errCh)
		if err := app.Run(ctx, c.Complete()); err != nil && ctx.Err() == nil {
			errCh <- err
		}
	}()
	return errCh, nil
}
