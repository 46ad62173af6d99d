package ports

import (
	"fmt"
	"net"
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

// TestPortsAreOutsideTheEphemeralRange: a chosen port is below the kernel's range for outgoing connections, so no
// connection made between the choice and the bind can take it; and one process never hands a port out twice.
func TestPortsAreOutsideTheEphemeralRange(t *testing.T) {
	eph := ephemeralLow()
	if eph-1-low < 1000 {
		t.Skipf("skipped: the ephemeral range starts at %d, too close to %d to choose below it", eph, low)
	}
	seen := map[int]bool{}
	for range 100 {
		ps, err := FreeN(5)
		require.NoError(t, err)
		for _, p := range ps {
			assert.GreaterOrEqual(t, p, low)
			assert.Less(t, p, eph, "port %d is in the ephemeral range (from %d)", p, eph)
			assert.False(t, seen[p], "port %d handed out twice", p)
			seen[p] = true
		}
	}
}

// TestAPortInUseIsNotChosen: a port something listens on is never handed out, and a chosen port binds.
func TestAPortInUseIsNotChosen(t *testing.T) {
	lo, hi := 24000, 24399
	var held []net.Listener
	busy := map[int]bool{}
	for p := lo; p <= hi; p += 2 {
		if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p)); err == nil {
			held = append(held, l)
			busy[p] = true
		}
	}
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	require.Greater(t, len(busy), 150, "ports held for the test")
	for range 100 {
		ps, err := pick(1, lo, hi)
		require.NoError(t, err)
		p := ps[0]
		assert.False(t, busy[p], "port %d is in use", p)
		assert.True(t, p >= lo && p <= hi, "port %d outside [%d, %d]", p, lo, hi)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		require.NoError(t, err, "the chosen port binds")
		l.Close()
	}
}
