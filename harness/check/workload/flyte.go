package workload

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
)

// flyteWorkflow is one @workflow function of a Flyte module under workflows/flyte.
type flyteWorkflow struct{ file, name string }

var workflowDef = regexp.MustCompile(`(?m)^@workflow(?:\([^)]*\))?\s*\ndef\s+([A-Za-z_][A-Za-z0-9_]*)\s*\(`)

func (t *Tier) flyteWorkflows() ([]flyteWorkflow, error) {
	files, err := filepath.Glob(filepath.Join(t.root, "workflows", "flyte", "*.py"))
	if err != nil {
		return nil, err
	}
	var out []flyteWorkflow
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		for _, m := range workflowDef.FindAllStringSubmatch(string(data), -1) {
			out = append(out, flyteWorkflow{file: f, name: m[1]})
		}
	}
	return out, nil
}

// failedTask is flytekit's name of the task a local execution failed in ("Error encountered while executing
// 'training_pipeline.evaluate'").
var failedTask = regexp.MustCompile(`Error encountered while executing '([^']+)'`)

// Flyte runs every Flyte workflow under workflows/flyte with `pyflyte run` (flytekit's local execution, the
// pinned flytekit), its raw data in the emulated artifacts bucket, and checks that the model lands where the
// InferenceService serves it from.
func (t *Tier) Flyte(ctx context.Context) result.Result {
	wfs, err := t.flyteWorkflows()
	if err != nil {
		return result.Fail(NameFlyte, nil, "%v", err)
	}
	if len(wfs) == 0 {
		return result.Skip(NameFlyte, "no @workflow under workflows/flyte")
	}
	env, err := t.runtime(ctx, "flyte")
	if err != nil {
		return skipOrFail(NameFlyte, err)
	}
	if err := t.s3Emulator(ctx); err != nil {
		return result.Skip(NameFlyte, "S3 emulator: %v", err)
	}
	dir, err := t.scratch("flyte")
	if err != nil {
		return result.Fail(NameFlyte, nil, "%v", err)
	}
	raw := "s3://" + t.bucket + "/flyte/raw"
	extra := append(t.awsEnv(), "HOME="+dir, "TMPDIR="+filepath.Join(dir, "tmp"))
	for k, v := range t.cfg.Platform.Bridge.Vars() {
		extra = append(extra, k+"="+v)
	}
	var ran []string
	for _, wf := range wfs {
		rel, _ := filepath.Rel(t.root, wf.file)
		t.progress("workload/flyte: pyflyte run %s %s (local execution, raw data in %s)", rel, wf.name, raw)
		log := filepath.Join(dir, wf.name+".log")
		t0 := time.Now()
		err := t.run(ctx, t.root, log, env.Environ(extra...), env.Bin("pyflyte"),
			"run", "--raw-output-data-prefix", raw, rel, wf.name)
		out, _ := os.ReadFile(log)
		if err != nil {
			what := "pyflyte run " + rel + " " + wf.name
			if m := failedTask.FindAllStringSubmatch(string(out), -1); len(m) > 0 {
				what = "task " + m[len(m)-1][1]
			}
			return result.Fail(NameFlyte, tailFile(log, 15), "%s failed: %v", what, err)
		}
		ran = append(ran, fmt.Sprintf("%s %s in %s: %s", rel, wf.name, time.Since(t0).Round(100*time.Millisecond), outputsLine(string(out))))
	}
	// The contract with KServe: the model is where the InferenceService's storageUri points.
	uri, err := t.modelURI()
	if err != nil {
		return result.Fail(NameFlyte, ran, "%v", err)
	}
	keys, err := t.list(ctx, uri)
	if err != nil {
		return result.Fail(NameFlyte, ran, "list %s: %v", uri, err)
	}
	if len(keys) == 0 {
		return result.Fail(NameFlyte, ran, "the pipeline ran but published nothing at the InferenceService's storageUri %s", uri)
	}
	t.published = true
	rawKeys, _ := t.list(ctx, raw)
	res := result.Pass(NameFlyte, "%d workflow(s) ran with flytekit (local execution); model published to %s (%s); %d objects of raw data in %s",
		len(wfs), uri, strings.Join(keys, ", "), len(rawKeys), raw)
	res.Details = ran
	return res
}

// outputsLine is the workflow's outputs as pyflyte prints them (the last non-empty line).
func outputsLine(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// inferenceService is the workflow InferenceService (after the bridge's substitution).
func (t *Tier) inferenceService() (*unstructured.Unstructured, error) {
	for _, o := range t.cfg.Platform.Objects {
		if o.GetKind() == "InferenceService" && strings.HasPrefix(filepath.ToSlash(o.Source), "workflows/") {
			return o.Unstructured, nil
		}
	}
	return nil, fmt.Errorf("no InferenceService under workflows/")
}

func (t *Tier) modelURI() (string, error) {
	isvc, err := t.inferenceService()
	if err != nil {
		return "", err
	}
	uri, _, _ := unstructured.NestedString(isvc.Object, "spec", "predictor", "model", "storageUri")
	if uri == "" {
		return "", fmt.Errorf("InferenceService %s/%s has no spec.predictor.model.storageUri", isvc.GetNamespace(), isvc.GetName())
	}
	return uri, nil
}

// list is the keys (relative to the prefix) under an s3://bucket/prefix URI in the emulator.
func (t *Tier) list(ctx context.Context, uri string) ([]string, error) {
	bucket, prefix, ok := strings.Cut(strings.TrimPrefix(uri, "s3://"), "/")
	if !strings.HasPrefix(uri, "s3://") || !ok {
		return nil, fmt.Errorf("%q is not an s3://bucket/prefix URI", uri)
	}
	prefix = strings.TrimSuffix(prefix, "/") + "/"
	var keys []string
	p := s3.NewListObjectsV2Paginator(t.s3, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, o := range page.Contents {
			if k := strings.TrimPrefix(aws.ToString(o.Key), prefix); k != "" { // "" is a directory marker
				keys = append(keys, k)
			}
		}
	}
	sort.Strings(keys)
	return keys, nil
}
