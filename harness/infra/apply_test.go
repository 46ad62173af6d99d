package infra

import (
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEmulatorOverrideIsValidHCL(t *testing.T) {
	t.Parallel()
	src := emulatorOverride("http://127.0.0.1:5000", "us-east-1")
	_, diags := hclsyntax.ParseConfig([]byte(src), "harness_override.tf", hcl.InitialPos)
	require.False(t, diags.HasErrors(), diags.Error())
	for _, want := range []string{`s3_use_path_style           = true`, `eks = "http://127.0.0.1:5000"`, `skip_requesting_account_id  = true`} {
		assert.Contains(t, src, want)
	}
}

func TestAccountGuardIsValidHCL(t *testing.T) {
	t.Parallel()
	src := accountGuard("123456789012")
	_, diags := hclsyntax.ParseConfig([]byte(src), "harness_override.tf", hcl.InitialPos)
	require.False(t, diags.HasErrors(), diags.Error())
	assert.Contains(t, src, `allowed_account_ids = ["123456789012"]`)
}

func TestProviderUnavailableReason(t *testing.T) {
	t.Parallel()
	reason, ok := providerUnavailable("Initializing provider plugins...\n\nError: Failed to query available provider packages\n\nCould not retrieve the list of available versions\nfor provider hashicorp/aws: no such host\n")
	assert.True(t, ok)
	assert.Equal(t, "Could not retrieve the list of available versions for provider hashicorp/aws: no such host", reason)
	// OpenTofu's wrapping, as seen on this project's CI machines.
	reason, ok = providerUnavailable("Error: Failed to resolve provider packages\n\nCould not resolve provider hashicorp/aws: could not connect to\nregistry.opentofu.org: failed to request discovery document: Get\n\"https://registry.opentofu.org/.well-known/terraform.json\": dial tcp: lookup\nregistry.opentofu.org on 10.255.255.53:53: no such host\n\n")
	assert.True(t, ok)
	assert.Equal(t, `Could not resolve provider hashicorp/aws: could not connect to registry.opentofu.org: failed to request discovery document: Get "https://registry.opentofu.org/.well-known/terraform.json": dial tcp: lookup registry.opentofu.org on 10.255.255.53:53: no such host`, reason)
	_, ok = providerUnavailable("Error: Unsupported argument")
	assert.False(t, ok, "configuration errors are failures, not skips")
}

func TestApplyRefusesRealLookingCredentials(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEEXAMPLE12")
	_, err := Apply(t.Context(), ApplyOptions{Source: "../../terraform", Env: "local", Endpoint: "http://127.0.0.1:1", Binary: "/bin/false"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "looks real")
}
