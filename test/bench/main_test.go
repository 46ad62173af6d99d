package bench

import (
	"testing"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/test/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }
