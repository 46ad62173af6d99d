package workload

import (
	"context"
	_ "embed"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/internal/ports"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/smoke"
)

// sklearnServer is the stand-in for KServe's sklearn runtime (see the file's docstring).
//
//go:embed sklearnserver.py
var sklearnServer []byte

// KServe serves the model the pipeline published with KServe's own Python ModelServer, loading it from the
// InferenceService's storageUri the way KServe's sklearn runtime does, on loopback, and asks it with the nightly's
// v2 client.
func (t *Tier) KServe(ctx context.Context) result.Result {
	isvc, err := t.inferenceService()
	if err != nil {
		return result.Skip(NameKServe, "%v", err)
	}
	format, _, _ := unstructured.NestedString(isvc.Object, "spec", "predictor", "model", "modelFormat", "name")
	if format != "sklearn" {
		return result.Skip(NameKServe, "InferenceService %s serves modelFormat %q: only KServe's sklearn runtime has a stand-in here", isvc.GetName(), format)
	}
	if proto, _, _ := unstructured.NestedString(isvc.Object, "spec", "predictor", "model", "protocolVersion"); proto != "v2" {
		return result.Skip(NameKServe, "InferenceService %s speaks protocol %q: the smoke client speaks v2", isvc.GetName(), proto)
	}
	uri, err := t.modelURI()
	if err != nil {
		return result.Fail(NameKServe, nil, "%v", err)
	}
	if !t.published {
		return result.Skip(NameKServe, "no model to serve: %s did not publish one to %s", NameFlyte, uri)
	}
	env, err := t.runtime(ctx, "kserve")
	if err != nil {
		return skipOrFail(NameKServe, err)
	}
	dir, err := t.scratch("kserve")
	if err != nil {
		return result.Fail(NameKServe, nil, "%v", err)
	}
	script := filepath.Join(dir, "sklearnserver.py")
	if err := os.WriteFile(script, sklearnServer, 0o644); err != nil {
		return result.Fail(NameKServe, nil, "%v", err)
	}
	port, err := ports.Free()
	if err != nil {
		return result.Fail(NameKServe, nil, "%v", err)
	}
	name := isvc.GetName()
	t.progress("workload/kserve: KServe ModelServer for %s from %s on 127.0.0.1:%d", name, uri, port)
	t0 := time.Now()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	hc := &http.Client{Timeout: 5 * time.Second}
	log := filepath.Join(dir, "server.log")
	p, err := t.start(ctx, "kserve model server", dir, log,
		env.Environ(append(t.awsEnv(), "HOME="+dir, "TMPDIR="+filepath.Join(dir, "tmp"))...),
		func(ctx context.Context) bool { ok, _ := smoke.ModelReadyURL(ctx, hc, base, name); return ok }, 2*time.Minute,
		env.Bin("python"), script, "--model_name", name, "--model_dir", uri, "--http_port", fmt.Sprint(port))
	if err != nil {
		if ctx.Err() != nil {
			return result.Fail(NameKServe, nil, "%v", err)
		}
		return result.Fail(NameKServe, tailFile(log, 15), "model server for %s never became ready (%v): the runtime could not load %s", name, firstLine(err), uri)
	}
	defer p.Stop() //nolint:errcheck
	ready := time.Since(t0)
	t1 := time.Now()
	preds, err := smoke.InferV2URL(ctx, hc, base, name, smoke.SampleRows)
	if err != nil {
		return result.Fail(NameKServe, p.Tail(10), "%v", err)
	}
	labels, err := smoke.ClassLabels(preds)
	if err != nil {
		return result.Fail(NameKServe, p.Tail(10), "%v", err)
	}
	return result.Pass(NameKServe, "KServe ModelServer (kserve at the chart's version; a stand-in for the sklearn runtime, which PyPI does not publish, loading the model as it does) loaded %s: ready in %s, v2 infer of %d rows answered %v in %s",
		uri, ready.Round(100*time.Millisecond), len(smoke.SampleRows), labels, time.Since(t1).Round(time.Millisecond))
}
