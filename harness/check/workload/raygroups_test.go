package workload

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// Custom resources come from a group's `resources` map and from rayStartParams' resources as KubeRay's samples
// spell it (a quoted, escaped JSON object); GPUs from num-gpus or the container's nvidia.com/gpu.
func TestRayGroupsReadsEverySpelling(t *testing.T) {
	t.Parallel()
	doc := `
apiVersion: ray.io/v1
kind: RayService
spec:
  rayClusterConfig:
    headGroupSpec:
      rayStartParams:
        num-gpus: "0"
        resources: '"{\"Custom1\": 1, \"Custom2\": 5}"'
      template: {spec: {containers: [{name: ray-head, resources: {requests: {cpu: 500m}}}]}}
    workerGroupSpecs:
      - groupName: gpu
        resources: {driver: "1", Custom2: "2"}
        rayStartParams:
          resources: '{"Custom2": 7, "Custom3": 1}'
        template:
          spec:
            containers:
              - name: w
                resources: {requests: {cpu: "1"}, limits: {cpu: "2", nvidia.com/gpu: 1}}
      - groupName: inf
        template:
          spec:
            containers:
              - name: w
                resources: {limits: {cpu: "8", aws.amazon.com/neuroncore: "2", amd.com/gpu: "1"}}
      - groupName: mig
        resources: {nvidia.com/mig-1g.5gb: "2", cpu: "4", memory: 8Gi}
        rayStartParams:
          resources: '{"Custom3": 1}'
        template: {spec: {containers: [{name: w}]}}
`
	u := &unstructured.Unstructured{}
	require.NoError(t, yaml.Unmarshal([]byte(doc), &u.Object))
	groups, err := RayGroups(u)
	require.NoError(t, err)
	require.Len(t, groups, 4)
	// CPUs as KubeRay's num-cpus: the container's request rounded up (head), its limit over its request (gpu), the
	// group's resources cpu (mig).
	assert.Equal(t, RayGroup{Name: "head", Custom: map[string]float64{"Custom1": 1, "Custom2": 5}, CPUs: 1}, groups[0])
	// KubeRay's rule: custom resources in the group's map replace rayStartParams' wholesale (Custom3 is gone).
	assert.Equal(t, RayGroup{Name: "gpu", Custom: map[string]float64{"driver": 1, "Custom2": 2}, GPUs: 1, CPUs: 2}, groups[1])
	// cpu, memory and GPU keys (MIG slices included) are not custom resources: rayStartParams' stay.
	assert.Equal(t, RayGroup{Name: "mig", Custom: map[string]float64{"Custom3": 1}, GPUs: 2, CPUs: 4}, groups[3])
	// Any GPU key of the Ray container (amd.com/gpu), Neuron cores as Ray's neuron_cores (KubeRay's
	// addWellKnownAcceleratorResources).
	assert.Equal(t, RayGroup{Name: "inf", Custom: map[string]float64{"neuron_cores": 2}, GPUs: 1, CPUs: 8}, groups[2])

	// Breaking: a value Ray would refuse is an error naming the group.
	require.NoError(t, unstructured.SetNestedField(u.Object, map[string]any{"resources": "Custom1=1"}, "spec", "rayClusterConfig", "headGroupSpec", "rayStartParams"))
	_, err = RayGroups(u)
	assert.ErrorContains(t, err, "group head: rayStartParams.resources \"Custom1=1\" is not a JSON object")
}
