package aws

import (
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// setEnvURI rewrites the artifacts bucket in a RayJob's runtimeEnvYAML (the manifest names the local
// environment's bucket; the nightly run has its own).
func setEnvURI(job *unstructured.Unstructured, from, to string) {
	env, _, _ := unstructured.NestedString(job.Object, "spec", "runtimeEnvYAML")
	_ = unstructured.SetNestedField(job.Object, strings.ReplaceAll(env, from, to), "spec", "runtimeEnvYAML")
}

func setNested(u *unstructured.Unstructured, v string, fields ...string) error {
	return unstructured.SetNestedField(u.Object, v, fields...)
}
