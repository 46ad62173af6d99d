package embedded

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"

	"k8s.io/kubernetes/cmd/kube-scheduler/app"
	"k8s.io/kubernetes/cmd/kube-scheduler/app/options"
)

// schedulerOptions builds kube-scheduler options: no serving endpoint, no leader election, generous client QPS.
func schedulerOptions(kubeconfig, emulate string) (*options.Options, error) {
	reg, err := componentRegistry(emulate)
	if err != nil {
		return nil, err
	}
	o := options.NewOptions()
	o.ComponentGlobalsRegistry = reg
	// Setup replaces ComponentConfig with defaults and re-applies only flags marked as changed, so the settings
	// go in as flags.
	fs := pflag.NewFlagSet("kube-scheduler", pflag.ContinueOnError)
	for _, f := range o.Flags.FlagSets {
		fs.AddFlagSet(f)
	}
	// A pod marked unschedulable is retried when a cluster event may help it, and otherwise only after
	// --pod-max-in-unschedulable-pods-duration (5 min by default). A test cluster revisits every such verdict
	// within seconds, so one that an event race left stale (seen under load) is not the harness's answer for
	// minutes.
	if err := fs.Parse([]string{"--kubeconfig=" + kubeconfig, "--leader-elect=false",
		"--kube-api-qps=1000", "--kube-api-burst=2000", "--pod-max-in-unschedulable-pods-duration=5s"}); err != nil {
		return nil, fmt.Errorf("kube-scheduler flags: %w", err)
	}
	o.SecureServing = nil
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
