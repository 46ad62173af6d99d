package local

import (
	"os"
	"testing"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cluster/embedded"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/test/testenv"
)

func TestMain(m *testing.M) {
	embedded.RunIfControlPlane() // first: the stand-in harness's control-plane child inherits its environment
	if dir := os.Getenv(envKillableHarness); dir != "" {
		killableHarness(dir) // never returns: the test kills it
	}
	testenv.Main(m)
}
