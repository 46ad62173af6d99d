package deploy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"slices"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"sigs.k8s.io/yaml"
)

// InstallOption changes how Install installs.
type InstallOption func(*action.Install)

// DropWebhooks installs the chart without its admission webhook configurations and aggregated APIServices. On
// an emulated cluster no pod really runs, so nothing would answer them and every later API call they match
// would fail; on a real cluster do not use it.
func DropWebhooks(i *action.Install) {
	i.PostRenderer = dropKinds{"ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "APIService"}
}

// dropKinds is a Helm post-renderer that removes objects of the listed kinds.
type dropKinds []string

func (d dropKinds) Run(in *bytes.Buffer) (*bytes.Buffer, error) {
	objs, err := Decode("post-render", in.Bytes())
	if err != nil {
		return nil, err
	}
	out := &bytes.Buffer{}
	for _, o := range objs {
		if slices.Contains(d, o.GetKind()) {
			continue
		}
		data, err := yaml.Marshal(o.Object)
		if err != nil {
			return nil, err
		}
		out.WriteString("---\n")
		out.Write(data)
	}
	return out, nil
}

// Install installs the chart in dir as a Helm release into the cluster of kubeconfig (helm install
// --create-namespace --take-ownership, no wait) and returns the objects it created.
func Install(ctx context.Context, kubeconfig, dir string, rel Release, values map[string]any, opts ...InstallOption) ([]Object, error) {
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
	// Argo CD applies over objects that already exist (the `default` ServiceAccount a chart annotates, a
	// namespace another Application created); so does this stand-in for its sync.
	inst.TakeOwnership = true
	for _, o := range opts {
		o(inst)
	}
	r, err := inst.RunWithContext(ctx, ch, values)
	if err != nil {
		return nil, fmt.Errorf("helm install %s: %w", rel.Name, err)
	}
	return Decode(rel.Name, []byte(r.Manifest))
}
