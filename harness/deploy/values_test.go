package deploy

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A key the chart's values.yaml does not declare is judged by Helm's renderer: one the templates read (an
// undocumented, upstream-accepted value) passes; a misspelt one, and a nodeSelector one level above where the
// chart reads it, change nothing rendered and are reported.
func TestUnusedValuesJudgedByTheRenderer(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "templates"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "Chart.yaml"), []byte("apiVersion: v2\nname: demo\nversion: 0.1.0\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "values.yaml"), []byte("controller:\n  nodeSelector: {}\n  resources: {}\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "templates", "cm.yaml"), []byte(`apiVersion: v1
kind: ConfigMap
metadata:
  name: demo
data:
  level: {{ .Values.logLevel | default "info" | quote }}
  selector: {{ .Values.controller.nodeSelector | toJson | quote }}
  resources: {{ .Values.controller.resources | toJson | quote }}
`), 0o644))
	rel := Release{Name: "demo", Namespace: "x", KubeVersion: "1.35"}

	bad, unsure, err := UnusedValues(dir, rel, map[string]any{
		"logLevel":     "debug",                                                 // read by the template, not declared
		"controller":   map[string]any{"resources": map[string]any{"cpu": "1"}}, // declared
		"nodeSelector": map[string]any{"node-role.mlops.io/system": "true"},     // one level too high
		"resouces":     map[string]any{"requests": map[string]any{"cpu": "1"}},  // misspelt
	})
	require.NoError(t, err)
	assert.Empty(t, unsure)
	var keys []string
	for _, b := range bad {
		keys = append(keys, b.Key)
		assert.Contains(t, b.Reason, "Helm and Argo CD ignore it")
	}
	assert.ElementsMatch(t, []string{"nodeSelector", "resouces"}, keys)

	bad, _, err = UnusedValues(dir, rel, map[string]any{"logLevel": "debug"})
	require.NoError(t, err)
	assert.Empty(t, bad, "an undeclared key the templates read is not a false alarm")
}
