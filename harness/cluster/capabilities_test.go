package cluster

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cluster/embedded"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cluster/existing"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cluster/kind"
)

// TestBackendsImplementWhatTheyDeclare: every capability a backend declares has its interface implemented.
func TestBackendsImplementWhatTheyDeclare(t *testing.T) {
	for _, c := range []Cluster{&embedded.Cluster{}, &kind.Cluster{}, &existing.Cluster{}, &existing.Scaling{}} {
		assert.Empty(t, missing(c), "%T", c)
	}
	assert.True(t, Of(&embedded.Cluster{}).KWOK)
	assert.True(t, Of(&existing.Scaling{}).Scale, "an existing cluster given its node groups scales")
	assert.False(t, Of(&existing.Cluster{}).Scale)
	_, ok := AsScaler(&existing.Cluster{})
	assert.False(t, ok)
}

// TestADeclarationWithoutItsInterfaceIsCaught is the breaking test: kind declaring Scale and Upgrade (which it does
// not implement) is caught.
func TestADeclarationWithoutItsInterfaceIsCaught(t *testing.T) {
	saved := Backends
	t.Cleanup(func() { Backends = saved })
	Backends = append([]Backend(nil), saved...)
	for i := range Backends {
		if Backends[i].Name == Kind {
			Backends[i].Capabilities.Scale, Backends[i].Capabilities.Upgrade = true, true
		}
	}
	assert.Equal(t, []string{"Scale (Scaler)", "Upgrade (Upgrader)"}, missing(&kind.Cluster{}))
}
