package deploy

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Replica counts are read whatever integer type the decoder gives (YAML decoded through JSON yields float64):
// a RayJob asking for 64 GPU workers is 64 pods, not the default.
func TestReplicaCountsAreRead(t *testing.T) {
	objs, err := Decode("workflows/ray/rayjob.yaml", []byte(`
apiVersion: ray.io/v1
kind: RayJob
metadata: {name: train, namespace: ml}
spec:
  rayClusterSpec:
    headGroupSpec:
      template: {spec: {containers: [{name: head, image: x}]}}
    workerGroupSpecs:
      - groupName: gpu
        replicas: 64
        minReplicas: 0
        maxReplicas: 64
        template: {spec: {containers: [{name: w, image: x, resources: {limits: {nvidia.com/gpu: 1}}}]}}
      - groupName: multihost
        replicas: 2
        numOfHosts: 4
        template: {spec: {containers: [{name: w, image: x}]}}
      - groupName: floor
        replicas: 1
        minReplicas: 3
        template: {spec: {containers: [{name: w, image: x}]}}
      - groupName: paused
        replicas: 5
        suspend: true
        template: {spec: {containers: [{name: w, image: x}]}}
      - groupName: unset
        template: {spec: {containers: [{name: w, image: x}]}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: d, namespace: ml}
spec:
  replicas: 3
  template: {spec: {containers: [{name: c, image: x}]}}
---
apiVersion: batch/v1
kind: Job
metadata: {name: j, namespace: ml}
spec:
  parallelism: 8
  completions: 2
  template: {spec: {containers: [{name: c, image: x}]}}
---
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: {name: s, namespace: models}
spec:
  predictor:
    minReplicas: 4
    model: {modelFormat: {name: sklearn}}
`))
	require.NoError(t, err)
	ws, err := Workloads(objs)
	require.NoError(t, err)
	got := map[string]int{}
	for _, w := range ws {
		got[w.Name] = w.Replicas
	}
	assert.Equal(t, map[string]int{
		"RayJob/ml/train/head": 1, "RayJob/ml/train/gpu": 64, "RayJob/ml/train/multihost": 8,
		"RayJob/ml/train/floor": 3, "RayJob/ml/train/paused": 0, "RayJob/ml/train/unset": 0,
		"Deployment/ml/d": 3, "Job/ml/j": 2, "InferenceService/models/s/predictor": 4,
	}, got)
}

// A replica count that is not a whole number is an error naming the file and the field, not a silent default.
func TestUnreadableReplicaCountIsAnError(t *testing.T) {
	objs, err := Decode("workflows/ray/rayjob.yaml", []byte(`
apiVersion: ray.io/v1
kind: RayJob
metadata: {name: train, namespace: ml}
spec:
  rayClusterSpec:
    workerGroupSpecs:
      - groupName: gpu
        replicas: "many"
        template: {spec: {containers: [{name: w, image: x}]}}
`))
	require.NoError(t, err)
	_, err = Workloads(objs)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "workflows/ray/rayjob.yaml")
	assert.Contains(t, err.Error(), "spec.rayClusterSpec.workerGroupSpecs[0]: replicas: many (string) is not a whole number")
}
