package wiring

import (
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/deploy"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/tfeval"
)

// dbKey names a values map that configures a database connection (with a host in it).
var dbKey = regexp.MustCompile(`(?i)^(database|db|postgres(ql)?|mysql|sql)$`)

// dbConfig is one database connection a chart is configured with.
type dbConfig struct {
	app, key, host, password, passwordPath string
	chart                                  Chart
}

// database: every component configured for a database gets one that exists in that environment: a Service the
// platform runs there (with pods behind it), or the database Terraform creates (the GitOps Bridge's
// database.host), with a password the component can read; never loopback, a placeholder, or an inline password.
func database(in Input, _ *tfeval.Tree) result.Result {
	const name = "wiring/database"
	p := in.Platform
	var v []string
	bridgeHost := p.Bridge.Leaves["database.host"]
	inCluster := p.Bridge.Leaves["database.inCluster"] == "true"
	services := map[string]deploy.Object{}
	objs := in.objects()
	for _, o := range objs {
		if o.GetKind() == "Service" && o.GetAPIVersion() == "v1" {
			services[o.GetName()+"."+o.GetNamespace()] = o
		}
	}
	var configs []dbConfig
	for _, c := range in.Charts {
		configs = append(configs, findDBs(c, nil, c.Values)...)
	}
	for _, d := range configs {
		where := p.ValueAt(d.chart.App.Chart, strings.Split(d.key+".host", "."))
		what := fmt.Sprintf("%s: Application %s (%s) is configured for the database at %s=%q", where, d.app, d.chart.App.Chart, d.key+".host", d.host)
		host := strings.TrimSuffix(strings.TrimSuffix(d.host, ".cluster.local"), ".svc")
		svc, isService := services[host]
		switch {
		case d.host == "" || d.host == "localhost" || strings.HasPrefix(d.host, "127.") || d.host == "::1":
			v = append(v, what+": loopback, but nothing in its pod serves a database (no embedded database exists): give it the GitOps Bridge's database ({{ .Values.global.aws.database.host }})")
		case isService:
			if !backed(svc, objs) {
				v = append(v, fmt.Sprintf("%s, Service %s, but no pod template in this environment matches its selector", what, host))
			}
		case d.host == bridgeHost && !inCluster:
			// Terraform's database (RDS): needs a password the component can read.
			switch {
			case d.password != "":
				v = append(v, what+": the password is written in the values (it would be in Git); mount it from a Secret with passwordPath")
			case d.passwordPath == "":
				v = append(v, fmt.Sprintf("%s: no password source; RDS keeps the master password in Secrets Manager (%s): copy it into the Secret %q and mount it at passwordPath", what, p.Bridge.Leaves["database.secretArn"], p.Bridge.Leaves["database.passwordSecret"]))
			case !mountsSecret(d.chart, path.Dir(d.passwordPath), p.Bridge.Leaves["database.passwordSecret"]):
				v = append(v, fmt.Sprintf("%s: passwordPath %s is not on a volume of the Secret %q (GitOps Bridge database.passwordSecret) in the chart's pods", what, d.passwordPath, p.Bridge.Leaves["database.passwordSecret"]))
			}
		default:
			want := bridgeHost
			if want == "" {
				want = "(the bridge has no database.host)"
			}
			v = append(v, fmt.Sprintf("%s: neither a Service the platform runs in this environment nor the database Terraform creates (GitOps Bridge database.host = %s)", what, want))
		}
	}
	if len(configs) == 0 && len(in.Skipped) == 0 {
		return result.Pass(name, "no component is configured for a database")
	}
	return verdict(name, v, in.Skipped, "%d database connection(s), each to a database that exists in %s", len(configs), p.Env)
}

// findDBs walks a chart's values for maps under a database-like key that hold a host.
func findDBs(c Chart, at []string, m map[string]any) []dbConfig {
	var out []dbConfig
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		sub, ok := m[k].(map[string]any)
		if !ok {
			continue
		}
		path := append(append([]string(nil), at...), k)
		if host, ok := sub["host"].(string); ok && dbKey.MatchString(k) {
			d := dbConfig{app: c.App.Name, key: strings.Join(path, "."), host: host, chart: c}
			d.password, _ = sub["password"].(string)
			d.passwordPath, _ = sub["passwordPath"].(string)
			out = append(out, d)
			continue
		}
		out = append(out, findDBs(c, path, sub)...)
	}
	return out
}

// backed reports whether some pod template of objs in the Service's namespace matches its selector.
func backed(svc deploy.Object, objs []deploy.Object) bool {
	var s corev1.Service
	if err := deploy.Convert(svc.Object, &s); err != nil || len(s.Spec.Selector) == 0 {
		return false
	}
	sel := labels.SelectorFromSet(s.Spec.Selector)
	for _, o := range objs {
		if o.GetNamespace() != svc.GetNamespace() {
			continue
		}
		if tl, ok := templateLabels(o.Object); ok && sel.Matches(labels.Set(tl)) {
			return true
		}
	}
	return false
}

// templateLabels are the pod template labels of a controller (spec.template.metadata.labels).
func templateLabels(obj map[string]any) (map[string]string, bool) {
	spec, _ := obj["spec"].(map[string]any)
	tmpl, _ := spec["template"].(map[string]any)
	meta, _ := tmpl["metadata"].(map[string]any)
	raw, _ := meta["labels"].(map[string]any)
	if raw == nil {
		return nil, false
	}
	out := map[string]string{}
	for k, v := range raw {
		out[k] = fmt.Sprint(v)
	}
	return out, true
}

// mountsSecret reports whether a pod template of the chart mounts the Secret at dir.
func mountsSecret(c Chart, dir, secret string) bool {
	for _, o := range c.Objects {
		ws, err := deploy.Workloads([]deploy.Object{o})
		if err != nil {
			continue
		}
		for _, w := range ws {
			vols := map[string]bool{}
			for _, vol := range w.Spec.Volumes {
				if vol.Secret != nil && vol.Secret.SecretName == secret {
					vols[vol.Name] = true
				}
			}
			for _, ct := range w.Spec.Containers {
				for _, vm := range ct.VolumeMounts {
					if vols[vm.Name] && path.Clean(vm.MountPath) == path.Clean(dir) {
						return true
					}
				}
			}
		}
	}
	return false
}
