package platform

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// appliedJSON is what `terraform output -json gitops_metadata` decodes to for a bridge, with the account (and
// what only the apply knows) as a real apply would have them.
func appliedJSON(t *testing.T, b *Bridge, account string, edit func(map[string]any)) any {
	t.Helper()
	data, err := json.Marshal(b.Values)
	require.NoError(t, err)
	data = []byte(strings.ReplaceAll(string(data), EmulatorAccount, account))
	var v map[string]any
	require.NoError(t, json.Unmarshal(data, &v))
	if edit != nil {
		edit(v)
	}
	return v
}

func TestAppliedBridgeMatchesTheStaticOne(t *testing.T) {
	t.Parallel()
	for _, env := range []string{"local", "prod"} {
		p, err := Load("../..", env)
		require.NoError(t, err)
		applied, err := NewBridgeJSON(appliedJSON(t, p.Bridge, "210987654321", func(v map[string]any) {
			if env == "prod" { // RDS: known after apply
				db := v["database"].(map[string]any)
				db["host"], db["secretArn"] = "mlops-prod-metadata-x.abc.us-east-1.rds.amazonaws.com", "arn:aws:secretsmanager:us-east-1:210987654321:secret:rds!db-1"
			}
		}))
		require.NoError(t, err)
		assert.Empty(t, p.Bridge.Diff(applied), env)
		assert.Equal(t, "mlops-"+env+"-artifacts-210987654321", applied.Leaves["artifactsBucket"])
		assert.Equal(t, "ARTIFACTS_BUCKET", EnvName("artifactsBucket"))
	}
}

// TestAppliedBridgeThatDiffersIsNamed: a bucket that got another name (a random suffix) is caught when the
// outputs are read, before the charts get it.
func TestAppliedBridgeThatDiffersIsNamed(t *testing.T) {
	t.Parallel()
	p, err := Load("../..", "dev")
	require.NoError(t, err)
	applied, err := NewBridgeJSON(appliedJSON(t, p.Bridge, "210987654321", func(v map[string]any) {
		v["artifactsBucket"] = "mlops-dev-artifacts-20261126abcdef"
		delete(v["roles"].(map[string]any), "ray")
	}))
	require.NoError(t, err)
	diffs := strings.Join(p.Bridge.Diff(applied), "\n")
	assert.Contains(t, diffs, `artifactsBucket: applied "mlops-dev-artifacts-20261126abcdef", the charts were checked with "mlops-dev-artifacts-210987654321"`)
	assert.Contains(t, diffs, "roles.ray: missing from the applied output")
}

func TestWorkflowPlaceholderNotInTheBridgeIsAnErrorAtItsLine(t *testing.T) {
	t.Parallel()
	p, err := Load("../..", "local")
	require.NoError(t, err)
	_, err = p.Bridge.Substitute("workflows/x.yaml", []byte("a: 1\n# ${NOT_IN_BRIDGE} in a comment is fine\nb: s3://${ARTIFACT_BUCKET}/x\n"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "workflows/x.yaml:3: ${ARTIFACT_BUCKET} is not a GitOps Bridge value (have ${ACCOUNT_ID}, ${ARTIFACTS_BUCKET}, ${CLUSTER_NAME}, ${ENVIRONMENT}, ${REGION})")
}
