package platform

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/tfeval"
)

// BridgeLocal is the Terraform local (terraform/gitops.tf) that the gitops_metadata output publishes: the GitOps
// Bridge, everything the GitOps side takes from Terraform.
const BridgeLocal = "gitops_metadata"

// EmulatorAccount is the AWS account a static run (no apply) computes names for: moto's and LocalStack's
// default account, so the names are the ones an apply against the emulator creates.
const EmulatorAccount = "123456789012"

// Bridge is the GitOps Bridge of one environment: Terraform's gitops_metadata, evaluated from the HCL (static
// runs: the emulator's account; what only an apply knows, such as an RDS address, is unknown) or read from
// `terraform output` after an apply.
type Bridge struct {
	// Source is where local.gitops_metadata is written (file:line).
	Source string
	// Values is the metadata as Helm values (global.aws); unknown leaves hold a placeholder naming the key.
	Values map[string]any
	// Leaves maps each leaf's dotted path to its value ("roles.flyte" -> "arn:aws:iam::..."); an unknown leaf
	// holds the same placeholder as in Values.
	Leaves map[string]string
	// Unknown lists the leaves only an apply knows.
	Unknown []string
	// Applied is true when the values come from an apply's outputs.
	Applied bool
}

// UnknownPrefix starts the placeholder of a leaf only an apply knows.
const UnknownPrefix = "known-after-apply."

// IsUnknown reports whether a bridge value is the placeholder of a leaf only an apply knows.
func IsUnknown(v string) bool { return strings.HasPrefix(v, UnknownPrefix) }

func unknownValue(path string) string { return UnknownPrefix + path }

// loadBridge evaluates local.gitops_metadata of the root module for env with the emulator's account.
func loadBridge(dir string, vars map[string]cty.Value, src Sources, now time.Time) (*Bridge, *tfeval.Module, error) {
	var files []tfeval.File
	for _, f := range src.Files {
		files = append(files, tfeval.File{Path: f.Path, Data: f.Data})
	}
	m, err := tfeval.Load(dir, files, tfeval.Inputs{
		Vars: vars,
		Data: map[string]cty.Value{
			"aws_caller_identity.current": cty.ObjectVal(map[string]cty.Value{"account_id": cty.StringVal(EmulatorAccount)}),
			"aws_partition.current":       cty.ObjectVal(map[string]cty.Value{"partition": cty.StringVal("aws")}),
		},
		Now: now,
	})
	if err != nil {
		return nil, nil, err
	}
	a := m.LocalExpr(BridgeLocal)
	if a == nil {
		return nil, m, fmt.Errorf("%s: no local.%s: the GitOps Bridge (names, roles, database the charts take as global.aws) is missing", dir, BridgeLocal)
	}
	v, err := m.Local(BridgeLocal)
	if err != nil {
		return nil, m, err
	}
	b, err := NewBridge(v)
	if err != nil {
		return nil, m, fmt.Errorf("%s:%d: local.%s: %w", a.SrcRange.Filename, a.SrcRange.Start.Line, BridgeLocal, err)
	}
	b.Source = fmt.Sprintf("%s:%d", a.SrcRange.Filename, a.SrcRange.Start.Line)
	return b, m, nil
}

// NewBridge builds the bridge from the metadata object (evaluated, or decoded from `terraform output -json`).
func NewBridge(v cty.Value) (*Bridge, error) {
	if !v.Type().IsObjectType() && !v.Type().IsMapType() {
		return nil, fmt.Errorf("is %s, want an object", v.Type().FriendlyName())
	}
	b := &Bridge{}
	b.Leaves, b.Unknown = tfeval.Strings(v)
	for _, k := range b.Unknown {
		b.Leaves[k] = unknownValue(k)
	}
	b.Values = toValues("", v).(map[string]any)
	return b, nil
}

func toValues(path string, v cty.Value) any {
	switch {
	case !v.IsKnown():
		return unknownValue(path)
	case v.IsNull():
		return nil
	case v.Type().IsObjectType() || v.Type().IsMapType():
		out := map[string]any{}
		for it := v.ElementIterator(); it.Next(); {
			k, e := it.Element()
			p := k.AsString()
			if path != "" {
				p = path + "." + p
			}
			out[k.AsString()] = toValues(p, e)
		}
		return out
	case v.Type() == cty.Bool:
		return v.True()
	case v.Type() == cty.Number:
		if i, acc := v.AsBigFloat().Int64(); acc == 0 {
			return i
		}
		f, _ := v.AsBigFloat().Float64()
		return f
	case v.Type() == cty.String:
		return v.AsString()
	}
	return fmt.Sprint(v.GoString())
}

// Vars are the bridge's top-level string values under the names workflow manifests use as ${NAME}:
// artifactsBucket -> ARTIFACTS_BUCKET, clusterName -> CLUSTER_NAME.
func (b *Bridge) Vars() map[string]string {
	out := map[string]string{}
	for k, v := range b.Values {
		if s, ok := v.(string); ok {
			out[EnvName(k)] = s
		}
	}
	return out
}

// EnvName turns a bridge key into its workflow variable name: artifactsBucket -> ARTIFACTS_BUCKET.
func EnvName(key string) string {
	var sb strings.Builder
	for i, r := range key {
		if unicode.IsUpper(r) && i > 0 {
			sb.WriteByte('_')
		}
		sb.WriteRune(unicode.ToUpper(r))
	}
	return sb.String()
}

// placeholder is ${NAME} as envsubst substitutes it.
var placeholder = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// Substitute replaces ${NAME} in a workflow manifest with the bridge's values, as the runbook's envsubst does. A
// name the bridge does not have is an error at its line.
func (b *Bridge) Substitute(file string, data []byte) ([]byte, error) {
	vars := b.Vars()
	var errs []string
	for i, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		for _, m := range placeholder.FindAllStringSubmatch(line, -1) {
			if _, ok := vars[m[1]]; !ok {
				errs = append(errs, fmt.Sprintf("%s:%d: ${%s} is not a GitOps Bridge value (have %s)", file, i+1, m[1], strings.Join(sortedKeys(vars), ", ")))
			}
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			line = placeholder.ReplaceAllStringFunc(line, func(s string) string { return vars[s[2:len(s)-1]] })
		}
		out = append(out, line)
	}
	return []byte(strings.Join(out, "\n")), nil
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, "${"+k+"}")
	}
	sort.Strings(out)
	return out
}

// NewBridgeJSON builds the bridge from the gitops_metadata output as `terraform output -json` decodes it.
func NewBridgeJSON(v any) (*Bridge, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	ty, err := ctyjson.ImpliedType(data)
	if err != nil {
		return nil, fmt.Errorf("gitops_metadata output: %w", err)
	}
	val, err := ctyjson.Unmarshal(data, ty)
	if err != nil {
		return nil, fmt.Errorf("gitops_metadata output: %w", err)
	}
	b, err := NewBridge(val)
	if err != nil {
		return nil, fmt.Errorf("gitops_metadata output: %w", err)
	}
	b.Applied, b.Source = true, "terraform output "+BridgeLocal
	return b, nil
}

// Diff compares the bridge computed from terraform/ (b, for the emulator's account) with the one an apply output:
// what the charts were checked with must be what AWS built. The account differs by design (it is replaced before
// comparing); a leaf only an apply knows must be set by it.
func (b *Bridge) Diff(applied *Bridge) []string {
	acct := applied.Leaves["accountId"]
	var out []string
	keys := make([]string, 0, len(b.Leaves))
	for k := range b.Leaves {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		want := b.Leaves[k]
		got, ok := applied.Leaves[k]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("%s: missing from the applied output", k))
		case IsUnknown(want):
			// Known only after apply: any value; an empty one is fine only where the static reading says so.
		case acct != "" && strings.ReplaceAll(want, EmulatorAccount, acct) != got:
			out = append(out, fmt.Sprintf("%s: applied %q, the charts were checked with %q", k, got, strings.ReplaceAll(want, EmulatorAccount, acct)))
		}
	}
	return out
}
