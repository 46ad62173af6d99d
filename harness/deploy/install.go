package deploy

import (
	"context"
	"fmt"
	"io"
	"log"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"k8s.io/cli-runtime/pkg/genericclioptions"
)

// Install installs the chart in dir as a Helm release into the cluster of kubeconfig (helm install
// --create-namespace, no wait) and returns the objects it created.
func Install(ctx context.Context, kubeconfig, dir string, rel Release, values map[string]any) ([]Object, error) {
	ch, err := loader.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("load chart %s: %w", dir, err)
	}
	flags := genericclioptions.NewConfigFlags(false)
	flags.KubeConfig = &kubeconfig
	flags.Namespace = &rel.Namespace
	cfg := new(action.Configuration)
	quiet := log.New(io.Discard, "", 0).Printf
	if err := cfg.Init(flags, rel.Namespace, "secret", quiet); err != nil {
		return nil, fmt.Errorf("helm init for %s: %w", rel.Name, err)
	}
	inst := action.NewInstall(cfg)
	inst.ReleaseName, inst.Namespace, inst.CreateNamespace = rel.Name, rel.Namespace, true
	r, err := inst.RunWithContext(ctx, ch, values)
	if err != nil {
		return nil, fmt.Errorf("helm install %s: %w", rel.Name, err)
	}
	return Decode(rel.Name, []byte(r.Manifest))
}
