// Package smoke holds the clients the smoke tests drive the platform with — submit the workflow manifests,
// wait for the Ray job, the InferenceService, ask the model for a prediction — written once for every tier
// that has operators running (kind with images, the nightly real-AWS tier).
package smoke

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/deploy"
)

// Resources the smoke clients use.
var (
	RayJobs           = schema.GroupVersionResource{Group: "ray.io", Version: "v1", Resource: "rayjobs"}
	InferenceServices = schema.GroupVersionResource{Group: "serving.kserve.io", Version: "v1beta1", Resource: "inferenceservices"}
)

// ReadManifest reads the single object in a workflow manifest file.
func ReadManifest(path string) (*unstructured.Unstructured, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	objs, err := deploy.Decode(path, data)
	if err != nil {
		return nil, err
	}
	if len(objs) != 1 {
		return nil, fmt.Errorf("%s: %d objects, want 1", path, len(objs))
	}
	return objs[0].Unstructured, nil
}

// Submit creates obj (replacing an earlier one of the same name) with strict field validation.
func Submit(ctx context.Context, dyn dynamic.Interface, gvr schema.GroupVersionResource, obj *unstructured.Unstructured) error {
	c := dyn.Resource(gvr).Namespace(obj.GetNamespace())
	err := c.Delete(ctx, obj.GetName(), metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete old %s %s/%s: %w", gvr.Resource, obj.GetNamespace(), obj.GetName(), err)
	}
	if err == nil { // wait for the old one (and its finalizers) to go
		_ = wait.PollUntilContextTimeout(ctx, time.Second, 5*time.Minute, true, func(ctx context.Context) (bool, error) {
			_, err := c.Get(ctx, obj.GetName(), metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		})
	}
	if _, err := c.Create(ctx, obj, metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict}); err != nil {
		return fmt.Errorf("create %s %s/%s: %w", gvr.Resource, obj.GetNamespace(), obj.GetName(), err)
	}
	return nil
}

// WaitRayJob waits until the RayJob's status.jobStatus is SUCCEEDED; FAILED or STOPPED, or a deployment status
// of Failed or ValidationFailed (KubeRay rejected the spec: it will never run), ends the wait with KubeRay's message.
func WaitRayJob(ctx context.Context, dyn dynamic.Interface, ns, name string, timeout time.Duration, poll time.Duration) error {
	var last string
	err := wait.PollUntilContextTimeout(ctx, poll, timeout, true, func(ctx context.Context) (bool, error) {
		u, err := dyn.Resource(RayJobs).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		job, _, _ := unstructured.NestedString(u.Object, "status", "jobStatus")
		dep, _, _ := unstructured.NestedString(u.Object, "status", "jobDeploymentStatus")
		msg, _, _ := unstructured.NestedString(u.Object, "status", "message")
		last = fmt.Sprintf("jobStatus %q, jobDeploymentStatus %q, message %q", job, dep, msg)
		switch {
		case job == "SUCCEEDED":
			return true, nil
		case job == "FAILED" || job == "STOPPED" || dep == "Failed" || dep == "ValidationFailed":
			return false, fmt.Errorf("RayJob %s/%s: %s", ns, name, last)
		}
		return false, nil
	})
	if err != nil && !strings.HasPrefix(err.Error(), "RayJob ") {
		return fmt.Errorf("RayJob %s/%s did not succeed in %s (%s): %w", ns, name, timeout, last, err)
	}
	return err
}

// RayServices are KubeRay's RayService custom resources.
var RayServices = RayJobs.GroupVersion().WithResource("rayservices")

// WaitRayService waits until the RayService's Ready condition is True; a Serve application that KubeRay reports
// DEPLOY_FAILED (its import or constructor raised: Serve gives up on it) ends the wait at once with Serve's
// message, instead of waiting out the timeout.
func WaitRayService(ctx context.Context, dyn dynamic.Interface, ns, name string, timeout, poll time.Duration) error {
	var failed, last string
	werr := wait.PollUntilContextTimeout(ctx, poll, timeout, true, func(ctx context.Context) (bool, error) {
		u, err := dyn.Resource(RayServices).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		for _, which := range []string{"activeServiceStatus", "pendingServiceStatus"} {
			apps, _, _ := unstructured.NestedMap(u.Object, "status", which, "applicationStatuses")
			for app, v := range apps {
				m, _ := v.(map[string]any)
				if st, _ := m["status"].(string); st == "DEPLOY_FAILED" {
					msg, _ := m["message"].(string)
					failed = fmt.Sprintf("RayService %s/%s: Serve application %s DEPLOY_FAILED: %s", ns, name, app, strings.TrimSpace(msg))
					return false, errors.New(failed)
				}
			}
		}
		conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		last = "no Ready condition yet"
		for _, c := range conds {
			m, _ := c.(map[string]any)
			if m["type"] == "Ready" {
				if m["status"] == "True" {
					return true, nil
				}
				last = fmt.Sprintf("Ready=%v %v: %v", m["status"], m["reason"], m["message"])
			}
		}
		return false, nil
	})
	switch {
	case failed != "":
		return errors.New(failed)
	case werr != nil:
		return fmt.Errorf("RayService %s/%s not Ready in %s (%s): %w", ns, name, timeout, last, werr)
	}
	return nil
}

// WaitReady waits until the object's Ready condition is True (KServe InferenceService, and any resource
// with standard conditions) and returns it.
func WaitReady(ctx context.Context, dyn dynamic.Interface, gvr schema.GroupVersionResource, ns, name string, timeout, poll time.Duration) (*unstructured.Unstructured, error) {
	var last string
	var got *unstructured.Unstructured
	err := wait.PollUntilContextTimeout(ctx, poll, timeout, true, func(ctx context.Context) (bool, error) {
		u, err := dyn.Resource(gvr).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		got = u
		conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		var cs []metav1.Condition
		for _, c := range conds {
			m, _ := c.(map[string]any)
			t, _ := m["type"].(string)
			s, _ := m["status"].(string)
			r, _ := m["reason"].(string)
			msg, _ := m["message"].(string)
			cs = append(cs, metav1.Condition{Type: t, Status: metav1.ConditionStatus(s), Reason: r, Message: msg})
		}
		if meta.IsStatusConditionTrue(cs, "Ready") {
			return true, nil
		}
		if c := meta.FindStatusCondition(cs, "Ready"); c != nil {
			last = fmt.Sprintf("Ready=%s %s: %s", c.Status, c.Reason, c.Message)
		} else {
			last = "no Ready condition yet"
		}
		return false, nil
	})
	if err != nil {
		return got, fmt.Errorf("%s %s/%s not Ready in %s (%s): %w", gvr.Resource, ns, name, timeout, last, err)
	}
	return got, nil
}

// SampleRows are the rows the smoke tests ask the model about: four features, as the training pipeline's model takes.
var SampleRows = [][]float64{{6.8, 2.8, 4.8, 1.4}, {5.1, 3.5, 1.4, 0.2}}

// InferV2 sends an Open Inference Protocol (v2) request to the model behind service:port through the API
// server's service proxy — no port-forward, no ingress — and returns the first output's data.
func InferV2(ctx context.Context, cs kubernetes.Interface, ns, service string, port int, model string, rows [][]float64) ([]any, error) {
	body, err := v2Request(rows)
	if err != nil {
		return nil, err
	}
	path := fmt.Sprintf("/api/v1/namespaces/%s/services/%s:%d/proxy/v2/models/%s/infer", ns, service, port, model)
	raw, err := cs.CoreV1().RESTClient().Post().AbsPath(path).SetHeader("Content-Type", "application/json").Body(body).DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("POST %s: %w (%s)", path, err, strings.TrimSpace(string(raw)))
	}
	return v2Response(path, raw, len(rows))
}

// InferV2URL sends the same request straight to a model server at base (http://host:port): the local tier's
// KServe model server on loopback.
func InferV2URL(ctx context.Context, hc *http.Client, base, model string, rows [][]float64) ([]any, error) {
	body, err := v2Request(rows)
	if err != nil {
		return nil, err
	}
	url := fmt.Sprintf("%s/v2/models/%s/infer", strings.TrimRight(base, "/"), model)
	raw, err := postJSON(ctx, hc, url, body)
	if err != nil {
		return nil, err
	}
	return v2Response(url, raw, len(rows))
}

// PredictInstances posts {"instances": rows} to a model behind url (the Ray Serve application's route) and
// returns its {"predictions": [...]}, which must be one class label per row.
func PredictInstances(ctx context.Context, hc *http.Client, url string, rows [][]float64) ([]int, error) {
	body, err := json.Marshal(map[string]any{"instances": rows})
	if err != nil {
		return nil, err
	}
	raw, err := postJSON(ctx, hc, url, body)
	if err != nil {
		return nil, err
	}
	var out struct {
		Predictions []any `json:"predictions"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("POST %s: %w (%s)", url, err, raw)
	}
	if len(out.Predictions) != len(rows) {
		return nil, fmt.Errorf("POST %s: want %d predictions, got %s", url, len(rows), raw)
	}
	return ClassLabels(out.Predictions)
}

// postJSON posts body and returns the response body of a 200 answer.
func postJSON(ctx context.Context, hc *http.Client, url string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("POST %s: %w", url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("POST %s: %s (%s)", url, resp.Status, strings.TrimSpace(string(raw)))
	}
	return raw, nil
}

// ModelReadyURL asks the v2 readiness endpoint (/v2/models/<model>/ready) of a model server at base.
func ModelReadyURL(ctx context.Context, hc *http.Client, base, model string) (bool, error) {
	url := fmt.Sprintf("%s/v2/models/%s/ready", strings.TrimRight(base, "/"), model)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	var r struct {
		Ready bool `json:"ready"`
	}
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return false, fmt.Errorf("GET %s: %w", url, err)
	}
	return r.Ready, nil
}

// ClassLabels checks that predictions are class labels (non-negative integers) and returns them.
func ClassLabels(preds []any) ([]int, error) {
	var out []int
	for i, p := range preds {
		f, ok := p.(float64)
		if !ok || f != math.Trunc(f) || f < 0 || math.IsInf(f, 0) {
			return nil, fmt.Errorf("prediction %d is %v (%T), not a class label", i, p, p)
		}
		out = append(out, int(f))
	}
	return out, nil
}

func v2Request(rows [][]float64) ([]byte, error) {
	flat := []float64{}
	for _, r := range rows {
		flat = append(flat, r...)
	}
	cols := 0
	if len(rows) > 0 {
		cols = len(rows[0])
	}
	return json.Marshal(map[string]any{"inputs": []map[string]any{{
		"name": "input-0", "shape": []int{len(rows), cols}, "datatype": "FP64", "data": flat,
	}}})
}

func v2Response(where string, raw []byte, rows int) ([]any, error) {
	var resp struct {
		Outputs []struct {
			Name string `json:"name"`
			Data []any  `json:"data"`
		} `json:"outputs"`
	}
	if err := json.Unmarshal(raw, &resp); err != nil {
		return nil, fmt.Errorf("POST %s: response is not v2 JSON: %w (%s)", where, err, raw)
	}
	if len(resp.Outputs) == 0 || len(resp.Outputs[0].Data) != rows {
		return nil, fmt.Errorf("POST %s: want %d predictions, got %s", where, rows, raw)
	}
	return resp.Outputs[0].Data, nil
}
