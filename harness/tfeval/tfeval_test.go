package tfeval

import (
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/zclconf/go-cty/cty"
)

const root = `
locals {
  name   = "${var.project}-${var.env}"
  bucket = "${local.name}-artifacts-${data.aws_caller_identity.current.account_id}"
  ok     = can(regex("^1\\.[0-9]+$", var.version))
  bad    = can(tonumber("x"))
  before = timecmp(plantimestamp(), "2030-01-01T00:00:00Z") < 0
  later  = aws_s3_bucket.b.arn
  roles  = { for k, v in var.ids : k => "${local.name}-${k}" }
}

module "m" {
  source = "./modules/m"
  prefix = local.name
  arn    = aws_s3_bucket.b.arn
}
`

const mod = `
variable "prefix" { type = string }
variable "arn" { type = string }
variable "n" {
  type    = number
  default = 3
}
locals {
  role = "${var.prefix}-${var.n}"
}
`

func TestEvaluatesLocalsDataFunctionsAndModules(t *testing.T) {
	t.Parallel()
	tree, err := LoadTree("tf", []File{{Path: "tf/main.tf", Data: []byte(root)}, {Path: "tf/modules/m/main.tf", Data: []byte(mod)}}, Inputs{
		Vars: map[string]cty.Value{"project": cty.StringVal("mlops"), "env": cty.StringVal("dev"), "version": cty.StringVal("1.35"),
			"ids": cty.MapVal(map[string]cty.Value{"flyte": cty.True})},
		Data: map[string]cty.Value{"aws_caller_identity.current": cty.ObjectVal(map[string]cty.Value{"account_id": cty.StringVal("123456789012")})},
		Now:  time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC),
	})
	require.NoError(t, err)
	get := func(m *Module, name string) cty.Value {
		v, err := m.Local(name)
		require.NoError(t, err, name)
		return v
	}
	assert.Equal(t, "mlops-dev-artifacts-123456789012", get(tree.Root, "bucket").AsString())
	assert.True(t, get(tree.Root, "ok").True(), "can() of a matching regex")
	assert.True(t, get(tree.Root, "bad").False(), "can() of a failing expression is false, not an error")
	assert.True(t, get(tree.Root, "before").True())
	assert.False(t, get(tree.Root, "later").IsKnown(), "a resource attribute is known only after apply")
	leaves, unknown := Strings(get(tree.Root, "roles"))
	assert.Equal(t, map[string]string{"flyte": "mlops-dev-flyte"}, leaves)
	assert.Empty(t, unknown)
	// The module's variables: the call's arguments over its defaults; unknown where the caller's are.
	assert.Equal(t, "mlops-dev-3", get(tree.Modules["m"], "role").AsString())
	assert.False(t, tree.Modules["m"].Vars()["arn"].IsKnown())
}

func TestSelfReferenceAndUnknownFunctionAreErrors(t *testing.T) {
	t.Parallel()
	m, err := Load("tf", []File{{Path: "tf/main.tf", Data: []byte("locals {\n  a = local.b\n  b = local.a\n  c = nosuchfn(1)\n}\n")}}, Inputs{})
	require.NoError(t, err)
	_, err = m.Local("a")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "refers to itself")
	_, err = m.Local("c")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "nosuchfn")
}

func TestCIDRFunctions(t *testing.T) {
	for expr, want := range map[string]string{
		`cidrhost("10.0.0.0/16", 0)`:   "10.0.0.0",
		`cidrhost("10.0.0.0/16", 258)`: "10.0.1.2",
		`cidrhost("10.0.0.0/16", -1)`:  "10.0.255.255",
		`cidrnetmask("10.0.0.0/20")`:   "255.255.240.0",
		// Terraform's documented examples of cidrsubnet, and the platform's subnets.
		`cidrsubnet("172.16.0.0/12", 4, 2)`:     "172.18.0.0/16",
		`cidrsubnet("10.1.2.0/24", 4, 15)`:      "10.1.2.240/28",
		`cidrsubnet("10.40.0.0/16", 4, 9)`:      "10.40.144.0/20",
		`can(cidrsubnet("10.0.0.0/30", 4, 0))`:  "false",
		`can(cidrsubnet("10.0.0.0/16", 4, 16))`: "false",
		`can(cidrhost("10.0.0.0/33", 0))`:       "false",
		`can(cidrhost("10.0.0.0/30", 9))`:       "false",
		`can(cidrhost("0.0.0.0/0", 0))`:         "true",
	} {
		e, diags := hclsyntax.ParseExpression([]byte(expr), "t.tf", hcl.InitialPos)
		require.False(t, diags.HasErrors(), expr)
		m, err := Load(t.TempDir(), nil, Inputs{})
		require.NoError(t, err)
		v, err := m.Eval(e, nil)
		require.NoError(t, err, expr)
		switch v.Type() {
		case cty.Bool:
			assert.Equal(t, want, fmt.Sprint(v.True()), expr)
		default:
			assert.Equal(t, want, v.AsString(), expr)
		}
	}
}
