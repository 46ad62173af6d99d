package ports

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFreeNPortsAreDistinct: ports chosen together never repeat (Ray refuses one port for two components).
func TestFreeNPortsAreDistinct(t *testing.T) {
	for range 50 {
		ps, err := FreeN(10)
		require.NoError(t, err)
		seen := map[int]bool{}
		for _, p := range ps {
			assert.False(t, seen[p], "port %d twice in %v", p, ps)
			seen[p] = true
		}
	}
}
