package deploy

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/repo"
)

// writeChart creates a chart with a ConfigMap and a webhook configuration.
func writeChart(t *testing.T, dir, name, version string) string {
	t.Helper()
	c := filepath.Join(dir, name)
	require.NoError(t, os.MkdirAll(filepath.Join(c, "templates"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(c, "Chart.yaml"), []byte("apiVersion: v2\nname: "+name+"\nversion: "+version+"\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(c, "templates", "all.yaml"), []byte(`apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  a: b
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: validate
webhooks: []
`), 0o644))
	return c
}

// A Helm HTTP repository served by the test: the chart is pulled once, then served from the cache.
func TestFetchChartFromHTTPRepository(t *testing.T) {
	repoDir := t.TempDir()
	ch, err := loader.Load(writeChart(t, t.TempDir(), "demo", "1.2.3"))
	require.NoError(t, err)
	_, err = chartutil.Save(ch, repoDir)
	require.NoError(t, err)
	srv := httptest.NewServer(http.FileServer(http.Dir(repoDir)))
	idx, err := repo.IndexDirectory(repoDir, srv.URL)
	require.NoError(t, err)
	require.NoError(t, idx.WriteFile(filepath.Join(repoDir, "index.yaml"), 0o644))

	cache := t.TempDir()
	dir, digest, err := FetchChart(t.Context(), srv.URL, "demo", "1.2.3", cache, "", time.Minute)
	require.NoError(t, err)
	assert.FileExists(t, filepath.Join(dir, "Chart.yaml"))
	srv.Close()
	again, againDigest, err := FetchChart(t.Context(), srv.URL, "demo", "1.2.3", cache, digest, time.Minute)
	require.NoError(t, err, "cached: the repository is not asked again")
	assert.Equal(t, dir, again)
	assert.Equal(t, digest, againDigest)
	data, err := os.ReadFile(filepath.Join(repoDir, "demo-1.2.3.tgz"))
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprintf("%x", sha256.Sum256(data)), digest, "the digest is the archive's, as the repository serves it")

	// A cached chart whose archive differs from the lock is refused.
	_, _, err = FetchChart(t.Context(), srv.URL, "demo", "1.2.3", cache, strings.Repeat("0", 64), time.Minute)
	require.ErrorContains(t, err, "the lock file says 0000")

	_, _, err = FetchChart(t.Context(), srv.URL, "demo", "9.9.9", cache, "", time.Minute)
	require.ErrorContains(t, err, "pull demo 9.9.9 from "+srv.URL)
	entries, err := os.ReadDir(cache)
	require.NoError(t, err)
	for _, e := range entries {
		assert.NotContains(t, e.Name(), ".pull-", "a failed pull leaves nothing behind")
	}
}

func TestDropWebhooksPostRenderer(t *testing.T) {
	objs, err := Render(writeChart(t, t.TempDir(), "demo", "0.1.0"), Release{Name: "demo", Namespace: "x"}, nil, nil)
	require.NoError(t, err)
	require.Len(t, objs, 2)
	in := &bytes.Buffer{}
	in.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n---\napiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\nmetadata:\n  name: validate\nwebhooks:\n  - name: v.example.io\n    clientConfig:\n      service: {namespace: x, name: demo-webhook}\n")
	var dropped []string
	out, err := (&dropKinds{kinds: []string{"ValidatingWebhookConfiguration"}, dropped: &dropped}).Run(in)
	require.NoError(t, err)
	left, err := Decode("out", out.Bytes())
	require.NoError(t, err)
	require.Len(t, left, 1)
	assert.Equal(t, "ConfigMap", left[0].GetKind())
	assert.Equal(t, []string{"ValidatingWebhookConfiguration validate (served by Service x/demo-webhook)"}, dropped, "what was left out is named with its server")
}
