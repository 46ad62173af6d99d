package smoke

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

func rayJob(status map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "ray.io/v1", "kind": "RayJob",
		"metadata": map[string]any{"name": "train-mlp", "namespace": "ml-training"}, "status": status}}
	return u
}

func fakeDyn(objs ...runtime.Object) *dynamicfake.FakeDynamicClient {
	return dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{RayJobs: "RayJobList", InferenceServices: "InferenceServiceList", RayServices: "RayServiceList"}, objs...)
}

func TestWaitRayJob(t *testing.T) {
	ok := fakeDyn(rayJob(map[string]any{"jobStatus": "SUCCEEDED", "jobDeploymentStatus": "Complete"}))
	require.NoError(t, WaitRayJob(t.Context(), ok, "ml-training", "train-mlp", time.Second, 10*time.Millisecond))

	failed := fakeDyn(rayJob(map[string]any{"jobStatus": "FAILED", "jobDeploymentStatus": "Failed", "message": "ModuleNotFoundError: torch"}))
	err := WaitRayJob(t.Context(), failed, "ml-training", "train-mlp", time.Second, 10*time.Millisecond)
	require.ErrorContains(t, err, `RayJob ml-training/train-mlp: jobStatus "FAILED", jobDeploymentStatus "Failed", message "ModuleNotFoundError: torch"`)

	running := fakeDyn(rayJob(map[string]any{"jobStatus": "RUNNING"}))
	err = WaitRayJob(t.Context(), running, "ml-training", "train-mlp", 50*time.Millisecond, 10*time.Millisecond)
	require.ErrorContains(t, err, `did not succeed in 50ms (jobStatus "RUNNING"`)
}

func TestWaitReady(t *testing.T) {
	isvc := func(status string) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
			"metadata": map[string]any{"name": "sklearn-iris", "namespace": "models"},
			"status":   map[string]any{"conditions": []any{map[string]any{"type": "Ready", "status": status, "reason": "ModelLoading", "message": "downloading"}}}}}
	}
	_, err := WaitReady(t.Context(), fakeDyn(isvc("True")), InferenceServices, "models", "sklearn-iris", time.Second, 10*time.Millisecond)
	require.NoError(t, err)
	_, err = WaitReady(t.Context(), fakeDyn(isvc("False")), InferenceServices, "models", "sklearn-iris", 50*time.Millisecond, 10*time.Millisecond)
	require.ErrorContains(t, err, "inferenceservices models/sklearn-iris not Ready in 50ms (Ready=False ModelLoading: downloading)")
}

// InferV2 goes through the API server's service proxy with a v2 request; the test plays the API server.
func TestInferV2(t *testing.T) {
	var gotPath string
	var gotBody map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath = r.URL.Path
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &gotBody)
		_, _ = w.Write([]byte(`{"model_name":"sklearn-iris","outputs":[{"name":"output-0","shape":[2],"datatype":"INT64","data":[1,2]}]}`))
	}))
	defer srv.Close()
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL})
	require.NoError(t, err)
	out, err := InferV2(t.Context(), cs, "models", "sklearn-iris-predictor", 80, "sklearn-iris", [][]float64{{6.8, 2.8, 4.8, 1.4}, {6.0, 3.4, 4.5, 1.6}})
	require.NoError(t, err)
	assert.Equal(t, []any{1.0, 2.0}, out)
	assert.Equal(t, "/api/v1/namespaces/models/services/sklearn-iris-predictor:80/proxy/v2/models/sklearn-iris/infer", gotPath)
	assert.Equal(t, []any{2.0, 4.0}, gotBody["inputs"].([]any)[0].(map[string]any)["shape"])
}

func TestReadManifest(t *testing.T) {
	u, err := ReadManifest(filepath.Join("..", "..", "workflows", "kserve", "inferenceservice.yaml"))
	require.NoError(t, err)
	assert.Equal(t, "InferenceService", u.GetKind())
}

func TestTargetPort(t *testing.T) {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "flyte-grpc", Namespace: "flyte"}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{
		{Port: 8089, TargetPort: intstr.FromString("grpc")}, {Port: 80, TargetPort: intstr.FromInt32(8088)}, {Port: 9000}}}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "flyte-0"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Ports: []corev1.ContainerPort{{Name: "grpc", ContainerPort: 8090}}}}}}
	for port, want := range map[int]int{8089: 8090, 80: 8088, 9000: 9000} {
		got, err := TargetPort(svc, pod, port)
		require.NoError(t, err)
		assert.Equal(t, want, got, port)
	}
	_, err := TargetPort(svc, pod, 1234)
	assert.ErrorContains(t, err, "service flyte/flyte-grpc has no port 1234")
}

// TestHTTPClientsJudgeTheAnswer: the loopback clients need one class label per row and a 200.
func TestHTTPClientsJudgeTheAnswer(t *testing.T) {
	answer := ""
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		_, _ = w.Write([]byte(answer))
	}))
	defer srv.Close()
	hc := srv.Client()
	rows := [][]float64{{1, 2}, {3, 4}}

	answer = `{"predictions": [1, 0]}`
	got, err := PredictInstances(t.Context(), hc, srv.URL+"/mlp", rows)
	require.NoError(t, err)
	assert.Equal(t, []int{1, 0}, got)
	answer = `{"predictions": [1]}`
	_, err = PredictInstances(t.Context(), hc, srv.URL+"/mlp", rows)
	assert.ErrorContains(t, err, "want 2 predictions")
	answer = `{"predictions": [0.5, 1]}`
	_, err = PredictInstances(t.Context(), hc, srv.URL+"/mlp", rows)
	assert.ErrorContains(t, err, "not a class label")

	answer = `{"outputs": [{"name": "output-0", "data": [2, 0]}]}`
	preds, err := InferV2URL(t.Context(), hc, srv.URL, "m", rows)
	require.NoError(t, err)
	assert.Len(t, preds, 2)
	status, answer = http.StatusInternalServerError, `model not loaded`
	_, err = InferV2URL(t.Context(), hc, srv.URL, "m", rows)
	assert.ErrorContains(t, err, "500")
}

func rayService(status map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{"apiVersion": "ray.io/v1", "kind": "RayService",
		"metadata": map[string]any{"name": "mlp-serve", "namespace": "models"}, "status": status}}
}

// TestWaitRayService: Ready ends the wait; a Serve application DEPLOY_FAILED ends it at once with Serve's
// message (not after the timeout); still deploying runs into the timeout naming the last condition.
func TestWaitRayService(t *testing.T) {
	ready := fakeDyn(rayService(map[string]any{"conditions": []any{map[string]any{"type": "Ready", "status": "True"}}}))
	require.NoError(t, WaitRayService(t.Context(), ready, "models", "mlp-serve", time.Second, 10*time.Millisecond))

	failed := fakeDyn(rayService(map[string]any{"pendingServiceStatus": map[string]any{"applicationStatuses": map[string]any{
		"mlp": map[string]any{"status": "DEPLOY_FAILED", "message": "ModuleNotFoundError: No module named 'serve_app'"}}}}))
	t0 := time.Now()
	err := WaitRayService(t.Context(), failed, "models", "mlp-serve", time.Minute, 10*time.Millisecond)
	require.ErrorContains(t, err, "Serve application mlp DEPLOY_FAILED: ModuleNotFoundError: No module named 'serve_app'")
	assert.Less(t, time.Since(t0), 5*time.Second, "a failed deploy ends the wait at once")

	deploying := fakeDyn(rayService(map[string]any{"conditions": []any{map[string]any{"type": "Ready", "status": "False", "reason": "Initializing"}}}))
	err = WaitRayService(t.Context(), deploying, "models", "mlp-serve", 50*time.Millisecond, 10*time.Millisecond)
	require.ErrorContains(t, err, "not Ready in 50ms (Ready=False Initializing")
}
