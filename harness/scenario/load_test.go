package scenario

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

func TestShippedScenariosLoad(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("../../scenarios/*.yaml")
	require.NoError(t, err)
	names := map[string]bool{}
	for _, f := range files {
		s, err := Load(f)
		require.NoError(t, err, f)
		names[s.Metadata.Name] = true
	}
	for _, want := range []string{"gpu-isolation", "gpu-capacity", "night-scale-to-zero", "gpu-node-loss", "gpu-roll", "gpu-roll-blocked", "karpenter-launch", "karpenter-limits", "karpenter-consolidation"} {
		assert.True(t, names[want], "scenario %s shipped", want)
	}
}

func TestBadScenarioNamesFileAndLine(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, body, want string }{
		{"unknown field", `apiVersion: harness.mlops.io/v1alpha1
kind: Scenario
metadata: {name: x}
spec:
  environment: local
  steps:
    - scaleNodeGroup: {group: gpu, size: 2}
      expct: {gpuPodsRunning: 1}
`, "line 8: field expct not found"},
		{"wrong kind", "apiVersion: harness.mlops.io/v1alpha1\nkind: Scenarios\nmetadata: {name: x}\nspec: {environment: local, steps: [{loseNode: {node: gpu-0}}]}\n", `:2: kind: "Scenarios", want "Scenario"`},
		{"wrong apiVersion after a comment", "# a scenario\n\napiVersion: harness.mlops.io/v1\nkind: Scenario\nmetadata: {name: x}\nspec: {environment: local, steps: [{loseNode: {node: gpu-0}}]}\n", `:3: apiVersion: "harness.mlops.io/v1", want "harness.mlops.io/v1alpha1"`},
		{"no environment", "apiVersion: harness.mlops.io/v1alpha1\nkind: Scenario\nmetadata: {name: x}\nspec:\n  steps: [{loseNode: {node: gpu-0}}]\n", `:4: spec.environment: required`},
		{"Karpenter nodes counted without Karpenter", `apiVersion: harness.mlops.io/v1alpha1
kind: Scenario
metadata: {name: x}
spec:
  environment: local
  steps:
    - loseNode: {node: gpu-0}
    - expect: {nodePoolNodes: {gpu: 0}}
`, ":8: spec.steps[1].expect.nodePoolNodes: counts nodes Karpenter launched: set spec.karpenter: true"},
		{"a wait beyond ten minutes", `apiVersion: harness.mlops.io/v1alpha1
kind: Scenario
metadata: {name: x}
spec:
  environment: local
  karpenter: true
  steps:
    - expect: {withinSeconds: 3600, nodePoolNodes: {gpu: 0}}
`, ":8: spec.steps[0].expect.withinSeconds: 3600: want 1..600"},
		{"two actions in a step", `apiVersion: harness.mlops.io/v1alpha1
kind: Scenario
metadata: {name: x}
spec:
  environment: local
  steps:
    - loseNode: {node: gpu-0}
    - scaleNodeGroup: {group: gpu, size: 1}
      loseNode: {node: gpu-1}
`, ":8: spec.steps[1]: needs exactly one of"},
		{"a roll blocked by a budget without its namespace", `apiVersion: harness.mlops.io/v1alpha1
kind: Scenario
metadata: {name: x}
spec:
  environment: local
  steps:
    - upgradeControlPlane: {}
    - rollNodeGroup: {group: gpu, expectBlockedBy: trainer}
`, `:8: spec.steps[1].rollNodeGroup.expectBlockedBy: "trainer": want namespace/name`},
		{"a roll without a group", "apiVersion: harness.mlops.io/v1alpha1\nkind: Scenario\nmetadata: {name: x}\nspec:\n  environment: local\n  steps:\n    - rollNodeGroup: {force: true}\n", ":7: spec.steps[0].rollNodeGroup.group: required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := filepath.Join(t.TempDir(), "bad.yaml")
			require.NoError(t, os.WriteFile(f, []byte(tc.body), 0o644))
			_, err := Load(f)
			require.Error(t, err)
			assert.Contains(t, err.Error(), f)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// TestSchemaAcceptsShippedScenarios keeps scenarios/scenario.schema.json (for editors) in step with the decoder.
func TestSchemaAcceptsShippedScenarios(t *testing.T) {
	t.Parallel()
	c := jsonschema.NewCompiler()
	sch, err := c.Compile("../../scenarios/scenario.schema.json")
	require.NoError(t, err)
	files, err := filepath.Glob("../../scenarios/*.yaml")
	require.NoError(t, err)
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		var doc any
		require.NoError(t, yaml.Unmarshal(data, &doc))
		js, err := json.Marshal(doc)
		require.NoError(t, err)
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
		require.NoError(t, err)
		assert.NoError(t, sch.Validate(inst), f)
	}
	bad, err := jsonschema.UnmarshalJSON(bytes.NewReader([]byte(`{"apiVersion":"harness.mlops.io/v1alpha1","kind":"Scenario","metadata":{"name":"x"},"spec":{"environment":"local","steps":[{"expct":{}}]}}`)))
	require.NoError(t, err)
	assert.Error(t, sch.Validate(bad), "unknown step field rejected")
}
