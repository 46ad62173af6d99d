package kind

import (
	"flag"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/shape"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestConfigGolden(t *testing.T) {
	for _, env := range []string{"local", "prod"} {
		t.Run(env, func(t *testing.T) {
			s, err := shape.Load("../../../terraform", env)
			require.NoError(t, err)
			c, err := ClusterConfig(s, DefaultNodeImage)
			require.NoError(t, err)
			got, err := yaml.Marshal(c)
			require.NoError(t, err)
			golden := "testdata/" + env + ".golden.yaml"
			if *update {
				require.NoError(t, os.WriteFile(golden, got, 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run go test -update to create %s", golden)
			assert.Equal(t, string(want), string(got))
		})
	}
}

func TestCheckDockerFailsClearly(t *testing.T) {
	if CheckDocker(t.Context()) == nil {
		t.Skip("a Docker engine answers here")
	}
	err := CheckDocker(t.Context())
	assert.ErrorContains(t, err, "needs a running Docker engine")
	assert.ErrorContains(t, err, "--backend embedded")
}
