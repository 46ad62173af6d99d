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
	reason, ok := providerUnavailable("Initializing provider plugins...\n\nError: Failed to query available provider packages\n\nCould not retrieve ...")
	assert.True(t, ok)
	assert.Equal(t, "Failed to query available provider packages", reason)
	_, ok = providerUnavailable("Error: Unsupported argument")
	assert.False(t, ok, "configuration errors are failures, not skips")
}

func TestApplyRefusesRealLookingCredentials(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEEXAMPLE12")
	_, err := Apply(t.Context(), ApplyOptions{Source: "../../terraform", Env: "local", Endpoint: "http://127.0.0.1:1", Binary: "/bin/false"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "looks real")
}
