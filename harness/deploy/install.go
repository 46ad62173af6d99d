package deploy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"slices"
	"strings"

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
func DropWebhooks(i *action.Install) { DropWebhooksInto(nil)(i) }

// DropWebhooksInto is DropWebhooks recording what it left out in *dropped, one line per object naming the
// server it points to ("ValidatingWebhookConfiguration cert-manager-webhook (served by Service
// cert-manager/cert-manager-webhook)"), so the result can say which and why.
func DropWebhooksInto(dropped *[]string) InstallOption {
	return func(i *action.Install) {
		i.PostRenderer = &dropKinds{kinds: []string{"ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "APIService"}, dropped: dropped}
	}
}

// dropKinds is a Helm post-renderer that removes objects of the listed kinds.
type dropKinds struct {
	kinds   []string
	dropped *[]string
}

func (d *dropKinds) Run(in *bytes.Buffer) (*bytes.Buffer, error) {
	objs, err := Decode("post-render", in.Bytes())
	if err != nil {
		return nil, err
	}
	out := &bytes.Buffer{}
	for _, o := range objs {
		if slices.Contains(d.kinds, o.GetKind()) {
			if d.dropped != nil {
				*d.dropped = append(*d.dropped, o.GetKind()+" "+o.GetName()+servedBy(o))
			}
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

// servedBy names the Services a webhook configuration or APIService sends its requests to (" (served by Service
// ns/name)"); "" when it names none (a URL, or an APIService served locally).
func servedBy(o Object) string {
	var svcs []string
	add := func(m map[string]any) {
		ns, _ := m["namespace"].(string)
		name, _ := m["name"].(string)
		if name != "" && !slices.Contains(svcs, ns+"/"+name) {
			svcs = append(svcs, ns+"/"+name)
		}
	}
	if o.GetKind() == "APIService" {
		if m, ok := o.Object["spec"].(map[string]any)["service"].(map[string]any); ok {
			add(m)
		}
	}
	hooks, _ := o.Object["webhooks"].([]any)
	for _, h := range hooks {
		hm, _ := h.(map[string]any)
		cc, _ := hm["clientConfig"].(map[string]any)
		if m, ok := cc["service"].(map[string]any); ok {
			add(m)
		}
	}
	if len(svcs) == 0 {
		return ""
	}
	return " (served by Service " + strings.Join(svcs, ", ") + ")"
}
