package static

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/deploy"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/test/testenv"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

var envs = []string{"local", "dev", "prod"}

func helmDir(parts ...string) string {
	return filepath.Join(append([]string{testenv.Root(), "helm"}, parts...)...)
}

func valuesFile(env string) string { return helmDir("values", env+".yaml") }

func golden(t *testing.T, name string, objs []deploy.Object) {
	t.Helper()
	var b strings.Builder
	for _, o := range objs {
		data, err := yaml.Marshal(o.Object)
		require.NoError(t, err)
		b.WriteString("---\n# Source: " + o.Source + "\n")
		b.Write(data)
	}
	path := filepath.Join("testdata", name+".golden.yaml")
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run `go test ./test/static -update` to create %s", path)
	assert.Equal(t, string(want), b.String(), "rendering changed; review and run `go test ./test/static -update`")
}

func TestChartsLint(t *testing.T) {
	t.Parallel()
	for _, env := range envs {
		// The root Application gets the GitOps Bridge as values on top of the environment's file.
		bridge, err := yaml.Marshal(testenv.BridgeValues(t, env))
		require.NoError(t, err)
		path := filepath.Join(t.TempDir(), "bridge.yaml")
		require.NoError(t, os.WriteFile(path, bridge, 0o644))
		assert.NoError(t, deploy.Lint(helmDir("platform-app"), []string{valuesFile(env), path}), "platform-app with %s", env)
	}
	// platform-config takes the bridge whole as `aws` (platform-app passes it).
	bridge, err := yaml.Marshal(map[string]any{"aws": testenv.BridgeValues(t, "local")["global"].(map[string]any)["aws"]})
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "aws.yaml")
	require.NoError(t, os.WriteFile(path, bridge, 0o644))
	assert.NoError(t, deploy.Lint(helmDir("platform-config"), []string{path}), "platform-config")
}

// TestRenderGolden renders the app-of-apps for each environment, then every in-repo chart with the values its
// Application carries, and compares with the golden files.
func TestRenderGolden(t *testing.T) {
	t.Parallel()
	for _, env := range envs {
		t.Run(env, func(t *testing.T) {
			objs, apps, err := deploy.Platform(testenv.Root(), env, testenv.BridgeValues(t, env))
			require.NoError(t, err)
			golden(t, "platform-app-"+env, objs)
			require.NotEmpty(t, apps)
			inRepo := 0
			for _, a := range apps {
				assert.NotEqual(t, "default", objs[0].Object["spec"].(map[string]any)["project"])
				if !a.InRepo("https://github.com/eks-mlops/eks-mlops-enterprise-grade.git") {
					assert.NotEmpty(t, a.TargetRevision, "%s pins its version", a.Name)
					continue
				}
				inRepo++
				rendered, err := deploy.Render(filepath.Join(testenv.Root(), a.Path), deploy.Release{Name: a.Name, Namespace: a.Namespace}, nil, a.Values)
				require.NoError(t, err, a.Name)
				golden(t, a.Name+"-"+env, rendered)
			}
			want := 1 // platform-config
			if env == "local" {
				want = 2 // and karpenter-nodepools
			}
			assert.Equal(t, want, inRepo, "the in-repo charts")
		})
	}
}

func TestEveryAppPinsAVersionAndUsesTheProject(t *testing.T) {
	t.Parallel()
	objs, apps, err := deploy.Platform(testenv.Root(), "prod", testenv.BridgeValues(t, "prod"))
	require.NoError(t, err)
	names := map[string]bool{}
	for _, a := range apps {
		names[a.Name] = true
		assert.NotContains(t, []string{"", "HEAD", "main", "master", "latest"}, a.TargetRevision, a.Name)
	}
	for _, o := range objs {
		project := o.Object["spec"].(map[string]any)["project"]
		assert.Equal(t, "mlops-platform", project, o.String())
	}
	for _, want := range []string{"platform-config", "nvidia-device-plugin", "kuberay-operator", "kserve", "kserve-crd", "flyte", "kube-downscaler", "cert-manager"} {
		assert.True(t, names[want], "app %s enabled", want)
	}
	assert.False(t, names["karpenter"], "karpenter present but off")
	assert.False(t, names["kubeflow-pipelines"], "KFP present but off")
}

// TestValuesSchemaNamesTheBadKey writes a values file with a typo'd key and expects the key and the file named.
func TestValuesSchemaNamesTheBadKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, chart, values, want string
	}{
		{"typo in an application", "platform-app", "applications:\n  flyte:\n    namspace: flyte\n", "namspace"},
		{"unknown global key", "platform-app", "global:\n  enviroment: dev\n", "enviroment"},
		{"default project refused", "platform-app", "global:\n  project: default\n", "/global/project"},
		{"typo in platform-config", "platform-config", "gpuQuotas:\n  ml-training: 1\n", "gpuQuotas"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := filepath.Join(t.TempDir(), "bad.yaml")
			require.NoError(t, os.WriteFile(f, []byte(tc.values), 0o644))
			_, err := deploy.Render(helmDir(tc.chart), deploy.Release{Name: "x", Namespace: "x"}, []string{f}, nil)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.Contains(t, err.Error(), f)
		})
	}
}

func TestBootstrap(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(helmDir("bootstrap.yaml"))
	require.NoError(t, err)
	objs, err := deploy.Decode("helm/bootstrap.yaml", data)
	require.NoError(t, err)
	require.Len(t, objs, 2)
	assert.Equal(t, "AppProject", objs[0].GetKind())
	app := objs[1]
	assert.Equal(t, "Application", app.GetKind())
	spec := app.Object["spec"].(map[string]any)
	assert.Equal(t, objs[0].GetName(), spec["project"])
	assert.NotEqual(t, "default", spec["project"])
	rev := spec["source"].(map[string]any)["targetRevision"]
	assert.Regexp(t, `^v\d+\.\d+\.\d+$`, rev, "targetRevision pinned to a release")
}
