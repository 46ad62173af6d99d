package karpenter

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

const nodePool = `apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: gpu}
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: gpu}
      requirements:
        - {key: karpenter.k8s.aws/instance-family, operator: In, values: [g4dn]}
        - {key: karpenter.sh/capacity-type, operator: In, values: [on-demand]}
`

func parse(t *testing.T, doc string) *unstructured.Unstructured {
	var m map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(doc), &m))
	return &unstructured.Unstructured{Object: m}
}

// TestTranslate: the node class becomes the kwok provider's, the AWS provider's label keys its own; everything
// else is kept. A family or instance type the catalog does not know is an error naming it.
func TestTranslate(t *testing.T) {
	out, changes, err := Translate(parse(t, nodePool))
	require.NoError(t, err)
	ref, _, _ := unstructured.NestedMap(out.Object, "spec", "template", "spec", "nodeClassRef")
	assert.Equal(t, map[string]any{"group": "karpenter.kwok.sh", "kind": "KWOKNodeClass", "name": KWOKNodeClass}, ref)
	reqs, _, _ := unstructured.NestedSlice(out.Object, "spec", "template", "spec", "requirements")
	assert.Equal(t, "karpenter.kwok.sh/instance-family", reqs[0].(map[string]any)["key"])
	assert.Equal(t, "karpenter.sh/capacity-type", reqs[1].(map[string]any)["key"])
	assert.Len(t, changes, 2)

	_, _, err = Translate(parse(t, `apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: gpu}
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: gpu}
      requirements:
        - {key: karpenter.k8s.aws/instance-family, operator: In, values: [g4dn, x9]}
`))
	require.ErrorContains(t, err, `NodePool gpu: instance family "x9" is not in the harness's instance catalog`)

	_, _, err = Translate(parse(t, `apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: gpu}
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: gpu}
      requirements:
        - {key: node.kubernetes.io/instance-type, operator: In, values: [g4dn.xlarge, x9.huge]}
`))
	require.ErrorContains(t, err, `unknown instance type "x9.huge"`)
}

// TestInstanceTypes: g4dn.xlarge as an EKS node has it — one GPU, 29 pods (VPC CNI), kube-reserved subtracted,
// on-demand at the list price in the zone.
func TestInstanceTypes(t *testing.T) {
	doc, err := InstanceTypes("us-east-1a")
	require.NoError(t, err)
	var types []instanceType
	require.NoError(t, json.Unmarshal(doc, &types))
	var g4 *instanceType
	for i := range types {
		if types[i].Name == "g4dn.xlarge" {
			g4 = &types[i]
		}
	}
	require.NotNil(t, g4)
	assert.Equal(t, "1", g4.Resources.Name("nvidia.com/gpu", "").String())
	assert.Equal(t, "29", g4.Resources.Pods().String())
	assert.Less(t, g4.Resources.Cpu().MilliValue(), int64(4000), "kube-reserved CPU subtracted")
	require.Len(t, g4.Offerings, 1)
	assert.InDelta(t, 0.526, g4.Offerings[0].Price, 1e-9)
	assert.Equal(t, []string{"on-demand"}, g4.Offerings[0].Requirements[0].Values)
	assert.Equal(t, []string{"us-east-1a"}, g4.Offerings[0].Requirements[1].Values)
}
