package existing

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/tools/clientcmd"
)

func TestWriteEKSKubeconfig(t *testing.T) {
	p := filepath.Join(t.TempDir(), "kubeconfig")
	err := WriteEKSKubeconfig(p, EKS{Name: "mlops-dev", Endpoint: "https://ABC.gr7.us-east-1.eks.amazonaws.com",
		CAData: base64.StdEncoding.EncodeToString([]byte("-----BEGIN CERTIFICATE-----\n")), Region: "us-east-1",
		Exec: []string{"/opt/harness", "eks-token"}})
	require.NoError(t, err)
	fi, err := os.Stat(p)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	cfg, err := clientcmd.LoadFromFile(p)
	require.NoError(t, err)
	u := cfg.AuthInfos["mlops-dev"]
	require.NotNil(t, u.Exec)
	assert.Equal(t, "/opt/harness", u.Exec.Command)
	assert.Equal(t, []string{"eks-token", "--cluster", "mlops-dev", "--region", "us-east-1"}, u.Exec.Args)
	assert.Equal(t, "https://ABC.gr7.us-east-1.eks.amazonaws.com", cfg.Clusters["mlops-dev"].Server)

	assert.ErrorContains(t, WriteEKSKubeconfig(p, EKS{Name: "x", CAData: "not base64!"}), "cluster_certificate_authority_data of x")
}
