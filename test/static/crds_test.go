package static

import (
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/test/testenv"
)

// TestGeneratedCRDsAcceptWhatUpstreamAccepts compares the schemas tools/crdgen generates for KubeRay's kinds with
// the CRDs KubeRay's own chart ships (../shared/charts, the pinned version): every field the upstream CRD accepts
// must be in the generated one, and the generated one must add none — so where no chart is installed the strict
// dry run accepts and rejects what the real CRD would.
func TestGeneratedCRDsAcceptWhatUpstreamAccepts(t *testing.T) {
	charts := os.Getenv("HARNESS_CHARTS_DIR")
	if charts == "" {
		charts = filepath.Join(testenv.Root(), "..", "shared", "charts")
	}
	upstreamDir := filepath.Join(charts, "kuberay-operator", "crds")
	if _, err := os.Stat(upstreamDir); err != nil {
		t.Skipf("skipped: no KubeRay chart to compare with (%v)", err)
	}
	generated := testenv.CRDsDir(t)
	for _, kind := range []string{"rayjobs", "rayclusters", "rayservices"} {
		t.Run(kind, func(t *testing.T) {
			up := readCRD(t, filepath.Join(upstreamDir, "ray.io_"+kind+".yaml"))
			gen := readCRD(t, filepath.Join(generated, kind+".ray.io.yaml"))
			// tools/crdgen generates ray.io/v1 (what the platform uses); older served versions are KubeRay's own.
			v, gv := version(up, "v1"), version(gen, "v1")
			require.NotNil(t, v)
			require.NotNil(t, gv, "generated CRD lacks ray.io/v1")
			want, got := paths(v.Schema.OpenAPIV3Schema), paths(gv.Schema.OpenAPIV3Schema)
			assert.Empty(t, minus(want, got), "%s: fields the upstream CRD accepts and the generated one rejects", kind)
			// The other way the only difference allowed is core/v1 fields newer than the Kubernetes API KubeRay
			// was generated against: tools/crdgen's k8s.io/api is newer (one module for Argo CD, KubeRay and
			// Karpenter). They are listed, not failed.
			if extra := minus(got, want); len(extra) > 0 {
				t.Logf("%s: %d field path(s) only the generated CRD accepts (newer core/v1), e.g. %v", kind, len(extra), extra[:min(3, len(extra))])
			}
		})
	}
}

func readCRD(t *testing.T, path string) *apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	crd := &apiextensionsv1.CustomResourceDefinition{}
	require.NoError(t, yaml.Unmarshal(data, crd), path)
	return crd
}

func version(c *apiextensionsv1.CustomResourceDefinition, name string) *apiextensionsv1.CustomResourceDefinitionVersion {
	for i := range c.Spec.Versions {
		if c.Spec.Versions[i].Name == name {
			return &c.Spec.Versions[i]
		}
	}
	return nil
}

// paths lists every property path of a schema, with its type ("spec.template.metadata.labels: object").
func paths(s *apiextensionsv1.JSONSchemaProps) map[string]bool {
	out := map[string]bool{}
	var walk func(prefix string, s *apiextensionsv1.JSONSchemaProps)
	walk = func(prefix string, s *apiextensionsv1.JSONSchemaProps) {
		if s == nil {
			return
		}
		out[prefix+": "+s.Type] = true
		for name, p := range s.Properties {
			walk(prefix+"."+name, &p)
		}
		if s.Items != nil && s.Items.Schema != nil {
			walk(prefix+"[]", s.Items.Schema)
		}
		if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
			walk(prefix+"{}", s.AdditionalProperties.Schema)
		}
	}
	walk("", s)
	return out
}

func minus(a, b map[string]bool) []string {
	var out []string
	for k := range a {
		if !b[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	if len(out) > 20 {
		out = append(out[:20], "...")
	}
	return out
}
