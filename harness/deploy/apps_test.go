package deploy

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Apps reads a child Application's values as Argo CD's repo server does: helm.valuesObject when set, else the YAML
// string helm.values (argoproj/argo-cd#22234: both spellings are accepted upstream); integers as valuesObject gives
// them; a values string that is not a map is an error naming the Application.
func TestAppsReadValuesAsArgoCD(t *testing.T) {
	app := func(helm map[string]any) Object {
		return Object{Source: "templates/applications.yaml", Unstructured: &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": map[string]any{"name": "flyte"},
			"spec": map[string]any{"source": map[string]any{"repoURL": "https://flyteorg.github.io/flyte", "chart": "flyte-binary", "helm": helm}}}}}
	}
	apps, err := Apps([]Object{app(map[string]any{"values": "replicas: 2\nserviceAccount:\n  name: flyte-binary\n"})})
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"replicas": int64(2), "serviceAccount": map[string]any{"name": "flyte-binary"}}, apps[0].Values)

	apps, err = Apps([]Object{app(map[string]any{"values": "replicas: 2\n", "valuesObject": map[string]any{"replicas": int64(3)}})})
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"replicas": int64(3)}, apps[0].Values, "valuesObject wins")

	_, err = Apps([]Object{app(map[string]any{"values": "- a list\n"})})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "flyte")
	assert.Contains(t, err.Error(), "spec.source.helm.values is not a YAML map")
}
