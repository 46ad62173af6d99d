package wiring

import (
	"fmt"
	"sort"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/deploy"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/tfeval"
)

// argValidator validates the command-line arguments the platform's values pass to an upstream component.
type argValidator struct {
	chart, appVersion, valuesKey string
	// runnable says how the component's own parser is run here; empty when it cannot be, with why in notRunnable.
	notRunnable string
	check       func(args []string) []string
	// resources returns the API resources (group, resource) the arguments make the component update.
	resources func(args []string) []groupResource
}

type groupResource struct{ group, resource string }

// validators are the components whose arguments are checked. py-kube-downscaler's parser cannot run here: the
// project publishes no Python package (PyPI has none; it ships container images), so its argument contract
// for the chart's appVersion is written down from its source (kube_downscaler/cmd.py at 25.4.0) — a
// hand-written rule, said so in the result.
var validators = []argValidator{{
	chart:       "py-kube-downscaler",
	appVersion:  "25.4.0",
	valuesKey:   "arguments",
	notRunnable: "py-kube-downscaler publishes no package on PyPI (container images only), so its own argparse parser cannot run here; checked against its 25.4.0 parser's contract (kube_downscaler/cmd.py), written down by hand",
	check:       downscalerArgs,
	resources:   downscalerResources,
}}

// downscalerResource maps each --include-resources kind of py-kube-downscaler 25.4.0 to its API resource.
var downscalerResource = map[string]groupResource{
	"deployments": {"apps", "deployments"}, "statefulsets": {"apps", "statefulsets"}, "daemonsets": {"apps", "daemonsets"},
	"cronjobs": {"batch", "cronjobs"}, "jobs": {"batch", "jobs"},
	"horizontalpodautoscalers": {"autoscaling", "horizontalpodautoscalers"},
	"poddisruptionbudgets":     {"policy", "poddisruptionbudgets"},
	"rollouts":                 {"argoproj.io", "rollouts"}, "scaledobjects": {"keda.sh", "scaledobjects"},
	"stacks": {"zalando.org", "stacks"}, "autoscalingrunnersets": {"actions.github.com", "autoscalingrunnersets"},
	"kafkaconnects": {"kafka.strimzi.io", "kafkaconnects"},
}

// downscalerFlags are the options of py-kube-downscaler 25.4.0's parser (true: takes a value).
var downscalerFlags = map[string]bool{
	"dry-run": false, "debug": false, "once": false, "interval": true, "upscale-target-only": false, "namespace": true,
	"include-resources": true, "grace-period": true, "api-server-timeout": true, "max-retries-on-conflict": true,
	"qps": true, "burst": true, "max-retries-on-throttling": true, "upscale-period": true, "default-uptime": true,
	"downscale-period": true, "default-downtime": true, "exclude-namespaces": true, "exclude-deployments": true,
	"downtime-replicas": true, "deployment-time-annotation": true, "enable-events": false, "matching-labels": true,
	"admission-controller": true, "json-logs": false,
}

func flagValues(args []string) (map[string][]string, []string) {
	out := map[string][]string{}
	var bad []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "-d" {
			a = "--debug"
		}
		if !strings.HasPrefix(a, "--") {
			bad = append(bad, fmt.Sprintf("%q is not an option", a))
			continue
		}
		name, val, hasVal := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		takes, known := downscalerFlags[name]
		switch {
		case !known:
			bad = append(bad, fmt.Sprintf("unrecognized argument --%s", name))
			continue
		case takes && !hasVal:
			if i+1 >= len(args) {
				bad = append(bad, fmt.Sprintf("--%s expects one argument", name))
				continue
			}
			i++
			val = args[i]
		case !takes && hasVal:
			bad = append(bad, fmt.Sprintf("--%s takes no value", name))
			continue
		}
		out[name] = append(out[name], val)
	}
	return out, bad
}

func downscalerArgs(args []string) []string {
	flags, bad := flagValues(args)
	for _, inc := range flags["include-resources"] {
		for _, r := range strings.Split(inc, ",") {
			if _, ok := downscalerResource[r]; !ok {
				valid := make([]string, 0, len(downscalerResource))
				for k := range downscalerResource {
					valid = append(valid, k)
				}
				sort.Strings(valid)
				bad = append(bad, fmt.Sprintf("--include-resources: %q is not a kind it can scale (argument should contain a subset of [%s]); it exits at start", r, strings.Join(valid, ", ")))
			}
		}
	}
	for _, pair := range [][2]string{{"upscale-period", "default-uptime"}, {"downscale-period", "default-downtime"}} {
		if len(flags[pair[0]]) > 0 && len(flags[pair[1]]) > 0 {
			bad = append(bad, fmt.Sprintf("--%s and --%s are mutually exclusive", pair[0], pair[1]))
		}
	}
	return bad
}

func downscalerResources(args []string) []groupResource {
	flags, _ := flagValues(args)
	inc := []string{"deployments"} // the parser's default
	if v := flags["include-resources"]; len(v) > 0 {
		inc = strings.Split(v[len(v)-1], ",")
	}
	var out []groupResource
	for _, r := range inc {
		if gr, ok := downscalerResource[r]; ok {
			out = append(out, gr)
		}
	}
	return out
}

// args: the arguments the platform passes to upstream components are valid for the component's version, and its
// rendered RBAC lets it act on what the arguments ask it to.
func args(in Input, _ *tfeval.Tree) result.Result {
	const name = "wiring/args"
	var v, notes []string
	checked := 0
	for _, c := range in.Charts {
		for _, val := range validators {
			if c.App.Chart != val.chart {
				continue
			}
			where := in.Platform.ValueAt(c.App.Chart, []string{val.valuesKey})
			appVersion := chartAppVersion(c)
			if appVersion != "" && appVersion != val.appVersion {
				return result.Skip(name, "%s appVersion %s: the argument contract is written down for %s only; add the new version's (harness/check/wiring/args.go)", val.chart, appVersion, val.appVersion)
			}
			raw, _ := c.Values[val.valuesKey].([]any)
			var list []string
			for _, a := range raw {
				list = append(list, fmt.Sprint(a))
			}
			checked++
			notes = append(notes, val.notRunnable)
			for _, b := range val.check(list) {
				v = append(v, fmt.Sprintf("%s: Application %s (%s %s): %s", where, c.App.Name, val.chart, val.appVersion, b))
			}
			for _, gr := range val.resources(list) {
				if !allowed(c.Objects, gr, "patch") && !allowed(c.Objects, gr, "update") {
					v = append(v, fmt.Sprintf("%s: Application %s: its arguments make %s scale %s.%s, but the chart's RBAC grants no update/patch on them (it would fail at its first loop)", where, c.App.Name, val.chart, gr.resource, gr.group))
				}
			}
		}
	}
	if len(v) > 0 {
		return result.Fail(name, append(v, notes...), "%d violation(s): %s", len(v), v[0])
	}
	if checked == 0 {
		return verdict(name, nil, in.Skipped, "no component with an argument contract is enabled")
	}
	return verdict(name, nil, in.Skipped, "%d component(s)' arguments valid and covered by their RBAC; %s", checked, strings.Join(notes, "; "))
}

func chartAppVersion(c Chart) string {
	for _, o := range c.Objects {
		if v := o.GetLabels()["app.kubernetes.io/version"]; v != "" {
			return strings.TrimPrefix(v, "v")
		}
	}
	return ""
}

// allowed reports whether a (Cluster)Role the chart renders grants verb on the resource.
func allowed(objs []deploy.Object, gr groupResource, verb string) bool {
	for _, o := range objs {
		if k := o.GetKind(); k != "ClusterRole" && k != "Role" {
			continue
		}
		var role rbacv1.ClusterRole
		if err := deploy.Convert(o.Object, &role); err != nil {
			continue
		}
		for _, r := range role.Rules {
			if has(r.APIGroups, gr.group) && has(r.Resources, gr.resource) && has(r.Verbs, verb) {
				return true
			}
		}
	}
	return false
}

func has(list []string, want string) bool {
	for _, s := range list {
		if s == want || s == "*" {
			return true
		}
	}
	return false
}
