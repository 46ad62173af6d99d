package mutations

import (
	"testing"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/test/testenv"
)

// TestMain: checkov's reports (and any deploy snapshot) in directories of this test binary's, not the user's cache.
func TestMain(m *testing.M) { testenv.Main(m) }
